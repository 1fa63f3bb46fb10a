"""Settings and default credentials of the sandbox servers.

The defaults are public on purpose (documented in the README): the sandbox guards nothing, it only
checks credentials the way the real services do so that auth code paths are exercised.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import quote, urlencode

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PipedrivePlan = Literal["lite", "growth", "premium", "ultimate"]
# What the sandbox's worktags mean; each tenant names the worktag type behind a role as it likes.
WorktagRole = Literal["industry", "segment", "region"]
WORKTAG_ROLES: tuple[WorktagRole, ...] = ("industry", "segment", "region")
_WORKTAG_TYPE_ID = r"^[A-Za-z0-9_]+$"


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


class WorktagType(BaseModel):
    """A worktag type as the tenant configured it: its ``Accounting_Worktag_Type_ID`` and descriptor."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=_WORKTAG_TYPE_ID)  # what a mapping reads as ``worktags.<id>``
    name: str = Field(min_length=1)


class WorktagTypes(BaseModel):
    """The worktag type behind each role of the sandbox's data. The defaults are the type IDs the shipped
    mappings read; real tenants name theirs as they configured them (``CUSTOM_WORKTAG_1``), which is
    what ``ml-connector discover`` is for, so the sandbox can play such a tenant."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    industry: WorktagType = WorktagType(id="INDUSTRY", name="Industry")
    segment: WorktagType = WorktagType(id="SEGMENT", name="Segment")
    region: WorktagType = WorktagType(id="REGION", name="Region")

    @model_validator(mode="after")
    def _distinct(self) -> WorktagTypes:
        seen: dict[str, str] = {}
        for role in WORKTAG_ROLES:
            type_id = self.of(role).id
            if type_id in seen:
                raise ValueError(
                    f"{role} and {seen[type_id]} both use worktag type {type_id}; give each its own"
                )
            seen[type_id] = role
        return self

    def of(self, role: WorktagRole) -> WorktagType:
        found: WorktagType = getattr(self, role)
        return found

    def rows(self) -> tuple[tuple[str, str], ...]:
        """(type ID, descriptor) in role order: the catalog builds its references from these."""
        return tuple((self.of(r).id, self.of(r).name) for r in WORKTAG_ROLES)

    @classmethod
    def parse(cls, text: str) -> WorktagTypes:
        """``industry=CUSTOM_WORKTAG_1,region=CUSTOM_WORKTAG_3:Sales Region``; a role left out keeps its
        default, a type without ``:name`` is described by its ID (``Custom Worktag 1``).

        Raises ValueError saying what to write; the CLI prefixes the flag's name.
        """
        usage = (
            f"write ROLE=TYPE_ID[:Name] pairs separated by commas, e.g. "
            f"industry=CUSTOM_WORKTAG_1,region=CUSTOM_WORKTAG_3; roles: {', '.join(WORKTAG_ROLES)}"
        )
        chosen: dict[str, WorktagType] = {}
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            role, sep, rest = item.partition("=")
            role = role.strip().lower()
            type_id, _, name = rest.partition(":")
            type_id = type_id.strip()
            if not sep or role not in WORKTAG_ROLES:
                raise ValueError(f"{item!r} does not name a role; {usage}")
            if role in chosen:
                raise ValueError(f"{role} is given twice; {usage}")
            if not re.match(_WORKTAG_TYPE_ID, type_id):
                raise ValueError(
                    f"{item!r}: a worktag type ID is letters, digits and underscores (CUSTOM_WORKTAG_1); {usage}"
                )
            chosen[role] = WorktagType(id=type_id, name=name.strip() or _describe(type_id))
        if not chosen:
            raise ValueError(f"no worktag type given; {usage}")
        try:
            return cls(**chosen)
        except ValidationError as exc:  # two roles on one type
            raise ValueError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from None


def _describe(type_id: str) -> str:
    """``CUSTOM_WORKTAG_1`` -> ``Custom Worktag 1``: how Workday shows a type named by its ID."""
    return " ".join(word.capitalize() for word in type_id.split("_") if word) or type_id


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
    # Which worktag type carries each role (industry, segment, region) in SOAP and RaaS answers.
    worktag_types: WorktagTypes = Field(default_factory=WorktagTypes)


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
