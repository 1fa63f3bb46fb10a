"""A Pipedrive Airflow connection, parsed once into a validated model.

Bad settings fail when the hook is first used, with a message naming the connection and the field,
instead of surfacing later as a confusing HTTP error. Secrets are :class:`SecretStr`, so neither the
model's repr nor a validation message can print them.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from ml_connector.errors import ConnectorError, Remedy
from ml_connector.hooks.connection import (
    ConnectionLike,
    as_bool,
    base_url,
    connection_extras,
    describe_invalid,
)
from ml_connector.pipedrive_limits import Plan
from ml_connector.provider import DEFAULT_TOKEN_URL

log = logging.getLogger(__name__)

DEFAULT_HOST = "https://api.pipedrive.com"
AuthKindSetting = Literal["api_token", "oauth2"]

# Where each model field comes from, as a person editing the connection sees it.
_SOURCES = {
    "base_url": "host",
    "api_token": "password (the API token)",
    "client_id": "login (the OAuth client id)",
    "client_secret": "password (the OAuth client secret)",
    "oauth_url": "extra 'oauth_url' (the OAuth token endpoint, e.g. https://oauth.pipedrive.com/oauth/token)",
}
_EXTRAS = ("auth_kind", "refresh_token", "oauth_url", "plan", "seats", "budget_reserve", "timeout")
# Renamed because Airflow masks every connection field whose name contains "token": the UI form showed
# the old field's default as *** and saved that. Existing connections keep working, with a warning.
_DEPRECATED_EXTRAS = {"oauth_token_url": "oauth_url"}
_KNOWN_EXTRAS = frozenset(_EXTRAS) | {"protocol", "verify_tls"} | frozenset(_DEPRECATED_EXTRAS)


class InvalidPipedriveConnection(ConnectorError, ValueError):
    """The connection's settings cannot work; the message names the connection and each bad field."""

    remedy = Remedy.PERSON


class PipedriveConfig(BaseModel):
    """Everything the hook needs from its connection."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    conn_id: str
    base_url: str = DEFAULT_HOST
    auth_kind: AuthKindSetting = "api_token"
    api_token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    oauth_url: str = Field(default=DEFAULT_TOKEN_URL, pattern=r"^https?://\S+$")
    plan: Plan = "growth"
    seats: int = Field(default=1, ge=1)
    budget_reserve: int = Field(default=1000, ge=0)
    timeout: float = Field(default=60.0, gt=0)
    verify_tls: bool = True

    @model_validator(mode="after")
    def _credentials_for_auth_kind(self) -> PipedriveConfig:
        if self.auth_kind == "api_token" and not _has(self.api_token):
            raise ValueError("auth_kind api_token needs the API token in the password field")
        if self.auth_kind == "oauth2":
            missing = [
                label
                for label, present in (
                    ("login (client id)", bool(self.client_id)),
                    ("password (client secret)", _has(self.client_secret)),
                    ("extra 'refresh_token'", _has(self.refresh_token)),
                )
                if not present
            ]
            if missing:
                raise ValueError("auth_kind oauth2 needs " + ", ".join(missing))
        return self

    @property
    def burst_auth_kind(self) -> Literal["api_token", "oauth"]:
        """The auth kind as Pipedrive's burst-limit table names it."""
        return "oauth" if self.auth_kind == "oauth2" else "api_token"


def _has(secret: SecretStr | None) -> bool:
    return secret is not None and bool(secret.get_secret_value())


def api_domain_url(host: str | None, port: int | None, protocol: Any) -> str:
    """The API domain without ``/api/v2`` or ``/v1``: people paste the API root, the hook adds those."""
    if not (host or "").strip():
        return DEFAULT_HOST
    url = base_url(host or "", port, protocol, what="API domain")
    for suffix in ("/api/v2", "/api/v1", "/v1"):
        url = url.removesuffix(suffix)
    return url


def parse_connection(conn: ConnectionLike) -> PipedriveConfig:
    """Validate ``conn`` into a :class:`PipedriveConfig` or raise :class:`InvalidPipedriveConnection`."""
    extra = connection_extras(conn, "pipedrive", _KNOWN_EXTRAS)
    try:
        url = api_domain_url(conn.host, conn.port, extra.get("protocol"))
    except ValueError as exc:
        raise InvalidPipedriveConnection(f"Pipedrive connection '{conn.conn_id}': host: {exc}") from None
    raw: dict[str, Any] = {"conn_id": conn.conn_id, "base_url": url}
    for old, new in _DEPRECATED_EXTRAS.items():
        if extra.get(old) not in (None, ""):
            ignored = f" (ignored: '{new}' is set too)" if extra.get(new) not in (None, "") else ""
            log.warning(
                "Pipedrive connection '%s': extra '%s' is deprecated; rename it to '%s'%s",
                conn.conn_id,
                old,
                new,
                ignored,
            )
            raw[new] = extra[old]
    raw.update({key: extra[key] for key in _EXTRAS if extra.get(key) not in (None, "")})
    if isinstance(raw.get("plan"), str):
        raw["plan"] = raw["plan"].strip().lower()
    if extra.get("verify_tls") not in (None, ""):
        raw["verify_tls"] = as_bool(extra["verify_tls"])
    if conn.login:
        raw["client_id"] = conn.login
    if conn.password:
        secret_field = "client_secret" if raw.get("auth_kind") == "oauth2" else "api_token"
        raw[secret_field] = conn.password
    try:
        return PipedriveConfig.model_validate(raw)
    except ValidationError as exc:
        raise InvalidPipedriveConnection(describe_invalid("Pipedrive", conn.conn_id, exc, _SOURCES)) from None
