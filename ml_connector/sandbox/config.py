"""Settings and default credentials of the sandbox servers.

The defaults are public on purpose (documented in the README): the sandbox guards nothing, it only
checks credentials the way the real services do so that auth code paths are exercised.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote, urlencode

from pydantic import BaseModel, Field

PipedrivePlan = Literal["lite", "growth", "premium", "ultimate"]


class WorkdayCredentials(BaseModel):
    tenant: str = "acme"
    client_id: str = "ml-connector-sandbox"
    client_secret: str = "sandbox-workday-client-secret"
    refresh_token: str = "sandbox-workday-refresh-token"
    isu_username: str = "ISU_ML_Connector"
    isu_password: str = "sandbox-isu-password"
    api_version: str = "v45.2"
    raas_owner: str = "ISU_ML_Connector"


class PipedriveCredentials(BaseModel):
    api_token: str = "5a1dbe0c0a5d8e6f3b2c1d0e9f8a7b6c5d4e3f21"
    client_id: str = "ml-connector-sandbox"
    client_secret: str = "sandbox-pipedrive-client-secret"
    refresh_token: str = "1:1:sandbox-pipedrive-refresh-token"
    company_domain: str = "sandbox-company"


class SandboxConfig(BaseModel):
    """Everything the two servers need; the CLI flags and the pytest fixture both build one."""

    host: str = "127.0.0.1"
    workday_port: int = 0
    pipedrive_port: int = 0
    customers: int = Field(default=200, ge=0)
    suppliers: int = Field(default=100, ge=0)
    seed: int = 42
    latency_ms: int = Field(default=0, ge=0)
    pipedrive_plan: PipedrivePlan = "growth"
    pipedrive_seats: int = Field(default=1, ge=1)
    workday: WorkdayCredentials = Field(default_factory=WorkdayCredentials)
    pipedrive: PipedriveCredentials = Field(default_factory=PipedriveCredentials)
    access_token_ttl_s: int = Field(default=3600, ge=1)
    rotate_refresh_tokens: bool = False
    # Pipedrive limits: off only for raw-throughput benchmarks of the sandbox itself.
    enforce_rate_limits: bool = True
    # Seconds before a new Pipedrive record is visible to search (0: at once).
    search_index_lag_s: float = Field(default=0.0, ge=0)
    # Workday throttling: requests per second per server above which it answers 429 / HTTP 500.
    workday_max_rps: float = Field(default=50.0, gt=0)


def workday_connection_uri(base_url: str, creds: WorkdayCredentials) -> str:
    """An Airflow connection URI (``AIRFLOW_CONN_WORKDAY_DEFAULT``) pointing at a Workday services host."""
    scheme, _, hostport = base_url.partition("://")
    extra = urlencode(
        {
            "auth_kind": "oauth2_refresh_token",
            "refresh_token": creds.refresh_token,
            "api_version": creds.api_version,
            "protocol": scheme,
        }
    )
    return (
        f"workday://{quote(creds.client_id, safe='')}:{quote(creds.client_secret, safe='')}"
        f"@{hostport}/{quote(creds.tenant, safe='')}?{extra}"
    )


def pipedrive_connection_uri(
    base_url: str, creds: PipedriveCredentials, plan: str, seats: int, *, oauth: bool = False
) -> str:
    """An Airflow connection URI (``AIRFLOW_CONN_PIPEDRIVE_DEFAULT``) pointing at a Pipedrive API domain;
    with ``oauth`` it uses the sandbox's OAuth client (4x the burst limit of an API token)."""
    scheme, _, hostport = base_url.partition("://")
    if not oauth:
        extra = urlencode({"auth_kind": "api_token", "plan": plan, "seats": seats, "protocol": scheme})
        return f"pipedrive://:{quote(creds.api_token, safe='')}@{hostport}/?{extra}"
    extra = urlencode(
        {
            "auth_kind": "oauth2",
            "refresh_token": creds.refresh_token,
            "oauth_url": f"{base_url}/oauth/token",
            "plan": plan,
            "seats": seats,
            "protocol": scheme,
        }
    )
    return f"pipedrive://{quote(creds.client_id, safe='')}:{quote(creds.client_secret, safe='')}@{hostport}/?{extra}"
