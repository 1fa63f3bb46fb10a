"""A Workday Airflow connection, parsed once into a validated model.

Bad settings fail when the hook is first used, with a message naming the connection and the field as
the connection form shows it, instead of surfacing later as a confusing SOAP fault. Secrets are
:class:`SecretStr`, so neither the model's repr nor a validation message can print them.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from ml_connector.errors import ConnectorError, Remedy
from ml_connector.hooks.connection import (
    ConnectionLike,
    as_bool,
    base_url,
    connection_extras,
    describe_invalid,
)

log = logging.getLogger(__name__)

AuthKind = Literal["oauth2_refresh_token", "isu"]
Service = Literal["Revenue_Management", "Resource_Management"]
SOAP_PAGE_MAX = 999  # Workday: Count 1-999
REST_PAGE_MAX = 100  # customerAccounts: limit <= 100

_VERSION = re.compile(r"^v\d+\.\d+$")
_RAAS = re.compile(r"^raas:(?P<owner>[^/\s]+)/(?P<report>[^/\s]+)$")
_WSDL_OVERRIDE_PREFIX = "wsdl_location_"

# Where each model field comes from, as a person editing the connection sees it.
_SOURCES = {
    "base_url": "host",
    "tenant": "schema (the tenant)",
    "login": "login",
    "password": "password",
}
_EXTRAS = (
    "auth_kind",
    "refresh_token",
    "api_version",
    "customers_source",
    "suppliers_source",
    "wsdl_location",
    "verify_tls",
    "timeout",
    "page_size",
    "max_pages_in_flight",
)
_KNOWN_EXTRAS = frozenset(_EXTRAS) | {"protocol", "tenant"}


class InvalidWorkdayConnection(ConnectorError, ValueError):
    """The connection's settings cannot work; the message names the connection and each bad field."""

    remedy = Remedy.PERSON


class EntitySource(BaseModel):
    """Which API a record type is read from: ``soap``, ``rest`` or ``raas:<owner>/<report>``."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["soap", "rest", "raas"]
    owner: str | None = None
    report: str | None = None

    @classmethod
    def parse(cls, text: str) -> EntitySource:
        text = text.strip()
        if text in ("soap", "rest"):
            return cls(kind=text)  # type: ignore[arg-type]
        match = _RAAS.match(text)
        if match is None:
            raise ValueError("must be 'soap', 'rest' or 'raas:<owner>/<report>'")
        return cls(kind="raas", owner=match["owner"], report=match["report"])

    def __str__(self) -> str:
        return f"raas:{self.owner}/{self.report}" if self.kind == "raas" else self.kind


class WorkdayConfig(BaseModel):
    """Everything the hook needs from its connection."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    conn_id: str
    base_url: str  # scheme://services-host[:port]
    tenant: str = Field(min_length=1)
    auth_kind: AuthKind = "oauth2_refresh_token"
    login: str = Field(min_length=1)  # OAuth client id, or the ISU user name without @tenant
    password: SecretStr  # OAuth client secret, or the ISU password
    refresh_token: SecretStr | None = None
    api_version: str = "v45.2"
    customers_source: EntitySource = EntitySource(kind="soap")
    suppliers_source: EntitySource = EntitySource(kind="soap")
    wsdl_location: str | None = None
    wsdl_locations: dict[str, str] = Field(default_factory=dict)  # per-service overrides
    verify_tls: bool | str = True
    timeout: float = Field(default=300.0, gt=0)  # a 999-record page can take a while on a real tenant
    page_size: int = Field(default=SOAP_PAGE_MAX, ge=1, le=SOAP_PAGE_MAX)
    max_pages_in_flight: int = Field(default=1, ge=1, le=8)

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        value = value.strip()
        if not _VERSION.match(value):
            raise ValueError("must look like v45.2")
        return value

    @field_validator("customers_source", "suppliers_source", mode="before")
    @classmethod
    def _source(cls, value: Any) -> Any:
        return EntitySource.parse(value) if isinstance(value, str) else value

    @field_validator("password")
    @classmethod
    def _password(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("is empty")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> WorkdayConfig:
        if self.auth_kind == "oauth2_refresh_token" and not (
            self.refresh_token and self.refresh_token.get_secret_value()
        ):
            raise ValueError("auth_kind oauth2_refresh_token needs extra 'refresh_token'")
        if self.auth_kind == "isu" and "@" in self.login:
            raise ValueError("login: give the ISU user name without '@tenant'; the hook adds the tenant")
        if self.suppliers_source.kind == "rest":
            raise ValueError(
                "suppliers_source: Workday has no REST resource listing suppliers; use soap or raas"
            )
        if self.customers_source.kind == "rest" and self.auth_kind != "oauth2_refresh_token":
            raise ValueError(
                "customers_source rest: Workday's REST API accepts only OAuth; "
                "set auth_kind oauth2_refresh_token or use soap/raas"
            )
        return self

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/ccx/oauth2/{self.tenant}/token"

    def soap_url(self, service: Service) -> str:
        return f"{self.base_url}/ccx/service/{self.tenant}/{service}/{self.api_version}"

    def wsdl_url(self, service: Service) -> str:
        """The tenant's WSDL unless the connection points at a file or URL of its own."""
        override = self.wsdl_locations.get(service.lower()) or self.wsdl_location
        if override:
            return override.replace("{service}", service).replace("{version}", self.api_version)
        return f"{self.soap_url(service)}?wsdl"

    def raas_url(self, source: EntitySource) -> str:
        return f"{self.base_url}/ccx/service/customreport2/{self.tenant}/{source.owner}/{source.report}"

    @property
    def rest_customers_url(self) -> str:
        return f"{self.base_url}/ccx/api/customerAccounts/v1/{self.tenant}/customers"

    @property
    def isu_username(self) -> str:
        """WS-Security wants ``user@tenant``."""
        return f"{self.login}@{self.tenant}"


def parse_connection(conn: ConnectionLike) -> WorkdayConfig:
    """Validate ``conn`` into a :class:`WorkdayConfig` or raise :class:`InvalidWorkdayConnection`."""
    extra = connection_extras(conn, "workday", _KNOWN_EXTRAS, (_WSDL_OVERRIDE_PREFIX,))
    overrides = {
        key.removeprefix(_WSDL_OVERRIDE_PREFIX): str(value)
        for key, value in extra.items()
        if key.startswith(_WSDL_OVERRIDE_PREFIX) and value not in (None, "")
    }
    try:
        if not (conn.host or "").strip():
            raise ValueError("is empty; give the services host, e.g. wd2-impl-services1.workday.com")
        url = base_url(conn.host or "", conn.port, extra.get("protocol"), what="services host")
    except ValueError as exc:
        raise InvalidWorkdayConnection(f"Workday connection '{conn.conn_id}': host: {exc}") from None
    raw: dict[str, Any] = {
        "conn_id": conn.conn_id,
        "base_url": url,
        "tenant": (conn.schema or extra.get("tenant") or "").strip().strip("/"),
        "login": (conn.login or "").strip(),
        "password": conn.password or "",
        "wsdl_locations": overrides,
    }
    raw.update({key: extra[key] for key in _EXTRAS if extra.get(key) not in (None, "")})
    if "verify_tls" in raw:
        raw["verify_tls"] = as_bool(raw["verify_tls"])
    if isinstance(raw.get("auth_kind"), str):
        raw["auth_kind"] = raw["auth_kind"].strip().lower()
    try:
        return WorkdayConfig.model_validate(raw)
    except ValidationError as exc:
        raise InvalidWorkdayConnection(describe_invalid("Workday", conn.conn_id, exc, _SOURCES)) from None
