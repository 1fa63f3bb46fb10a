"""Provider metadata read by Airflow's providers manager (entry point ``apache_airflow_provider``).

The connection forms are declared here (``conn-fields`` / ``ui-field-behaviour``), not in the hook
classes: Airflow 3.2+ builds the UI form from this metadata without importing the hooks. Keep this
module import-cheap.
"""

from __future__ import annotations

from typing import Any

from ml_connector import __version__

DEFAULT_TOKEN_URL = "https://oauth.pipedrive.com/oauth/token"


def _field(label: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": schema}


_SECRET = {"type": ["string", "null"], "format": "password"}
_TEXT = {"type": ["string", "null"]}

WORKDAY_FIELDS: dict[str, Any] = {
    "protocol": _field(
        "Protocol",
        "https for a tenant; http only for the local sandbox.",
        type="string",
        enum=["https", "http"],
        default="https",
    ),
    "auth_kind": _field(
        "Auth kind",
        "oauth2_refresh_token: an API Client for Integrations (client id/secret in login/password). "
        "isu: an Integration System User (user name without @tenant, and password).",
        type="string",
        enum=["oauth2_refresh_token", "isu"],
        default="oauth2_refresh_token",
    ),
    "refresh_token": _field(
        "Refresh token", "From View API Clients > Manage Refresh Tokens for Integrations.", **_SECRET
    ),
    "api_version": _field(
        "API version",
        "Workday Web Services version in the SOAP URL, e.g. v45.2.",
        type="string",
        default="v45.2",
    ),
    "customers_source": _field(
        "Customers source",
        "soap (Get_Customers), rest (customerAccounts) or raas:<owner>/<report>.",
        type="string",
        default="soap",
    ),
    "suppliers_source": _field(
        "Suppliers source", "soap (Get_Suppliers) or raas:<owner>/<report>.", type="string", default="soap"
    ),
    "wsdl_location": _field(
        "WSDL location",
        "Optional file path or URL of the tenant's WSDL, used instead of ?wsdl; {service} and {version} "
        "are replaced by the service name and API version.",
        **_TEXT,
    ),
    "wsdl_location_revenue_management": _field(
        "WSDL location (Revenue_Management)",
        "Optional WSDL for Get_Customers and Get_Business_Entity_Contacts only; wins over WSDL location.",
        **_TEXT,
    ),
    "wsdl_location_resource_management": _field(
        "WSDL location (Resource_Management)",
        "Optional WSDL for Get_Suppliers only; wins over WSDL location.",
        **_TEXT,
    ),
    "page_size": _field(
        "SOAP page size",
        "Records per SOAP page (Count), 1 to 999.",
        type="integer",
        minimum=1,
        maximum=999,
        default=999,
    ),
    "max_pages_in_flight": _field(
        "SOAP pages in flight",
        "How many SOAP pages are requested at once per tenant, 1 to 8; raise it only if the tenant allows.",
        type="integer",
        minimum=1,
        maximum=8,
        default=1,
    ),
    "verify_tls": _field("Verify TLS", "Check the server certificate.", type="boolean", default=True),
    "timeout": _field(
        "Timeout (s)",
        "Per-request timeout; a 999-record SOAP page can take a while.",
        type="number",
        default=300,
    ),
}

PIPEDRIVE_FIELDS: dict[str, Any] = {
    "protocol": _field(
        "Protocol",
        "https for Pipedrive; http only for the local sandbox.",
        type="string",
        enum=["https", "http"],
        default="https",
    ),
    "auth_kind": _field(
        "Auth kind",
        "api_token: the token in the password field. oauth2: client id/secret in login/password plus a refresh token.",
        type="string",
        enum=["api_token", "oauth2"],
        default="api_token",
    ),
    "refresh_token": _field("Refresh token", "OAuth2 only: the app's refresh token.", **_SECRET),
    # Not "oauth_token_url": Airflow masks every field whose name contains "token" (the form would show
    # and save *** instead of the URL).
    "oauth_url": _field(
        "OAuth token endpoint",
        "OAuth2 only: where refresh tokens are exchanged; keep the default for Pipedrive itself.",
        type="string",
        default=DEFAULT_TOKEN_URL,
    ),
    "plan": _field(
        "Plan",
        "Sets the burst limit and daily token budget.",
        type="string",
        enum=["lite", "growth", "premium", "ultimate"],
        default="growth",
    ),
    "seats": _field(
        "Seats", "Number of seats; the daily budget scales with it.", type="integer", minimum=1, default=1
    ),
    "budget_reserve": _field(
        "Budget reserve (tokens)",
        "Daily tokens to leave for other integrations; work past it is deferred to the next run.",
        type="integer",
        minimum=0,
        default=1000,
    ),
    "verify_tls": _field("Verify TLS", "Check the server certificate.", type="boolean", default=True),
    "timeout": _field("Timeout (s)", "Per-request timeout.", type="number", default=60),
}


def get_provider_info() -> dict[str, Any]:
    """Describe this package and its two connection types to Airflow."""
    return {
        "package-name": "ml-connector",
        "name": "ml-connector",
        "description": "Workday Financial Management customers and suppliers synced to Pipedrive CRM.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "workday",
                "hook-class-name": "ml_connector.hooks.workday.WorkdayHook",
                "hook-name": "Workday",
                "ui-field-behaviour": {
                    "hidden-fields": [],
                    "relabeling": {
                        "host": "Services host",
                        "schema": "Tenant",
                        "login": "Client ID (OAuth2) or ISU user name",
                        "password": "Client secret (OAuth2) or ISU password",
                    },
                    "placeholders": {
                        "host": "wd2-impl-services1.workday.com",
                        "schema": "acme",
                        "port": "443",
                    },
                },
                "conn-fields": WORKDAY_FIELDS,
            },
            {
                "connection-type": "pipedrive",
                "hook-class-name": "ml_connector.hooks.pipedrive.PipedriveHook",
                "hook-name": "Pipedrive",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema"],
                    "relabeling": {
                        "host": "API domain",
                        "login": "OAuth client ID",
                        "password": "API token (or OAuth client secret)",
                    },
                    "placeholders": {"host": "api.pipedrive.com"},
                },
                "conn-fields": PIPEDRIVE_FIELDS,
            },
        ],
    }
