"""The fault matrix as data: every cell is one fault of one API in one phase of a sync run.

A cell says how the fault is armed on the sandbox (route templates exactly as the sandbox declares them,
e.g. ``"POST /api/v2/organizations"``), what the run must do (``completes``, ``defers`` the rest for
Pipedrive's daily budget, or ``fails at <task> with <ErrorClass>``, retried by Airflow or not) and what
the operator does next. ``tests/faults/test_fault_matrix.py`` runs every cell as a DAG run on the
sandbox; ``tests/faults/render.py`` renders the expectations as the README's table.

Phases, and what each task calls:

- **refresh** (``refresh_tokens``): Workday's and Pipedrive's OAuth token endpoints; with an ISU the
  smallest ``Get_Customers`` page; with a Pipedrive API token ``GET /v1/users/me``.
- **field validation** (``validate_field_definitions``): Pipedrive's field listings, field and option creates.
- **extract**: Workday ``Get_Customers`` and ``Get_Business_Entity_Contacts`` (SOAP), or REST
  ``customerAccounts`` / a RaaS report for customers.
- **load**: Pipedrive listings (``GET /api/v2/organizations``) and writes (POST, PATCH).

Workday faults exist only in refresh and extract; Pipedrive faults only in refresh, field validation
and load.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ml_connector.sandbox.workday.soap_xml import render_fault

Api = Literal["Pipedrive", "Workday"]
Phase = Literal["refresh", "field validation", "extract", "load"]
PHASES: tuple[Phase, ...] = ("refresh", "field validation", "extract", "load")
Next = Literal["nothing", "airflow retry", "clear", "next run"]

# Route templates as the sandbox apps declare them (``ml_connector/sandbox/*/app.py``).
PD_TOKEN = "POST /oauth/token"
PD_ME = "GET /v1/users/me"
PD_ORG_FIELDS = "GET /api/v2/organizationFields"
PD_ORG_FIELD_CREATE = "POST /api/v2/organizationFields"
PD_ORGS = "GET /api/v2/organizations"
PD_ORG_CREATE = "POST /api/v2/organizations"
PD_PERSON_CREATE = "POST /api/v2/persons"
WD_TOKEN = "POST /ccx/oauth2/{tenant}/token"
WD_REVENUE = "POST /ccx/service/{tenant}/Revenue_Management/{version}"
WD_REST = "GET /ccx/api/customerAccounts/v1/{tenant}/customers"
WD_RAAS = "GET /ccx/service/customreport2/{tenant}/{owner}/{report}"
RAAS_CUSTOMERS = "raas:ISU_ML_Connector/ML_Connector_Customers"

# A fault that outlasts every retry: the hook's attempts and Airflow's second try.
PERSISTENT = 1000
# The Pipedrive connection's timeout in the fault worlds (extra ``timeout``), and a delay past it.
PIPEDRIVE_TIMEOUT_S = 2
WORKDAY_TIMEOUT_S = 2
PAST_TIMEOUT_MS = 3500


@dataclass(frozen=True)
class Fault:
    """One ``arm(...)`` call on a sandbox server's control plane (``FaultSpec``)."""

    server: Literal["pipedrive", "workday"]
    route: str
    kind: str = "status"
    status: int = 500
    count: int = 1
    after: int = 0
    delay_ms: int = 0
    body: str | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"route": self.route, "kind": self.kind, "status": self.status}
        out |= {"count": self.count, "after": self.after, "delay_ms": self.delay_ms}
        if self.body is not None:
            out |= {"body": self.body, "content_type": self.content_type}
        if self.headers:
            out["headers"] = dict(self.headers)
        return out

    def describe(self) -> str:
        what = {
            "status": f"HTTP {self.status}",
            "delay": f"{self.delay_ms} ms delay",
            "drop": "connection dropped",
            "malformed": "body cut in half",
            "expired_token": "expired token",
            "lost_response": "applied, answer lost"
            + (f" ({self.status})" if self.status in (502, 503, 504) else ""),
        }[self.kind]
        if self.body is not None:
            what += " with a body"
        if self.headers:
            what += " " + ", ".join(f"{k}: {v}" for k, v in self.headers.items())
        times = "every time" if self.count >= PERSISTENT else f"x{self.count}"
        after = f" after {self.after}" if self.after else ""
        return f"`{self.route}` {what}, {times}{after}"


@dataclass(frozen=True)
class World:
    """The connections of the cell's run (the sandbox is the same)."""

    pipedrive_auth: Literal["oauth2", "api_token"] = "oauth2"
    workday_auth: Literal["oauth2_refresh_token", "isu"] = "oauth2_refresh_token"
    customers_source: str = "soap"

    def describe(self) -> str:
        parts = []
        if self.pipedrive_auth != "oauth2":
            parts.append("Pipedrive API token")
        if self.workday_auth == "isu":
            parts.append("Workday ISU")
        if self.customers_source != "soap":
            parts.append(f"customers_source {self.customers_source.split(':')[0]}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Outcome:
    """What the run does: ``completes``, ``defers`` or ``fails`` at ``task`` with ``error``."""

    kind: Literal["completes", "defers", "fails"]
    task: str | None = None
    error: str | None = None
    retried: bool | None = None
    message: str | None = None  # a part of the error's message that must be there

    def __str__(self) -> str:
        if self.kind != "fails":
            return self.kind
        return f"fails at {self.task} with {self.error}, {'retried' if self.retried else 'not retried'}"


COMPLETES = Outcome("completes")
DEFERS = Outcome("defers")


def fails(task: str, error: str, *, retried: bool, message: str | None = None) -> Outcome:
    return Outcome("fails", task, error, retried, message)


@dataclass(frozen=True)
class KnownBug:
    """What the product does instead, today, and where: the cell passes while it does exactly that and
    fails once it does what is expected (then delete the ``known_bug`` and the cell holds the fix)."""

    observed: Outcome | None  # None: the run does what is expected, the end state is what is wrong
    next: Next | None  # what the operator does about today's behaviour (None: as expected)
    where: str
    diverges: str | None = None  # a regex every divergence from the model matches today

    def __str__(self) -> str:
        today = str(self.observed) if self.observed is not None else "then Pipedrive differs from the model"
        return f"known bug: {today} ({self.where})"


@dataclass(frozen=True)
class Cell:
    api: Api
    fault: str  # the fault kind, as the issue names it
    phase: Phase
    faults: tuple[Fault, ...]
    expected: Outcome
    operator: str  # what the operator does next, in words
    next: Next  # what the test does for the operator
    world: World = World()
    mutate: dict[str, int] = field(default_factory=dict)  # Workday data changes before the run
    short: bool = False  # part of the short version (make test)
    known_bug: KnownBug | None = None  # while the product does something else than ``expected``
    note: str = ""

    @property
    def id(self) -> str:
        return f"{self.api}-{self.fault}-{self.phase}".lower().replace(" ", "_").replace("/", "_")

    def arming(self) -> str:
        parts = [f.describe() for f in self.faults]
        parts += [f"Workday mutate {k}={v}" for k, v in self.mutate.items()]
        if world := self.world.describe():
            parts.append(world)
        return "; ".join(parts)


# -- bodies ------------------------------------------------------------------------------------------
def _json(body: dict[str, Any]) -> str:
    return json.dumps(body)


INVALID_GRANT = _json(
    {"error": "invalid_grant", "error_description": "Invalid grant: refresh_token is invalid"}
)
WD_INVALID_GRANT = _json({"error": "invalid_grant", "error_description": "Invalid refresh token"})
DAILY_SPENT = {"x-daily-ratelimit-token-remaining": "0"}
VALIDATION_FAULT = render_fault(
    "validation",
    "Invalid ID value. 'XX-9' is not a valid ID value for type = Customer_Category_ID",
    errors=[("Invalid ID value", "Customer_Category_ID XX-9", "/bsvc:Get_Customers_Request[1]")],
).decode()
PROCESSING_FAULT = render_fault("processing", "The server is busy; try again later").decode()
SOAP_503 = "<html><head><title>503 Service Unavailable</title></head><body><h1>Service Unavailable</h1></body></html>"


def pd(route: str, kind: str = "status", **spec: Any) -> Fault:
    return Fault("pipedrive", route, kind, **spec)


def wd(route: str, kind: str = "status", **spec: Any) -> Fault:
    return Fault("workday", route, kind, **spec)


def _soap(body: str, **spec: Any) -> Fault:
    return wd(WD_REVENUE, status=500, body=body, content_type="text/xml; charset=utf-8", **spec)


API_TOKEN = World(pipedrive_auth="api_token")
ISU = World(workday_auth="isu")
REST = World(customers_source="rest")
RAAS = World(customers_source=RAAS_CUSTOMERS)

BUG_REST = (
    "a limitation of the REST source, documented with customers_source: CustomerView has no Customer_ID, so "
    "its organizations are keyed by their WID (persons link to them through their parent's WID); the model, "
    "like the SOAP source and the suppliers DAG, keys a company by its Customer_ID"
)
CLEAR = "clear the failed task with its downstream tasks"
FIX_CLEAR = "fix what the error names, then " + CLEAR
RETRY = "nothing: Airflow's retry of the task completes the run"
NOTHING = "nothing"
NEW_TOKEN = "issue a new refresh token into the connection named in the error, then " + CLEAR
WAIT_CLEAR = "wait until Pipedrive lifts the block, then " + CLEAR
OUTAGE = "nothing while Airflow retries; after a longer outage " + CLEAR
DEFERRED = "nothing: the next run writes the deferred records first"

CELLS: tuple[Cell, ...] = (
    # ---- Pipedrive 429 burst ---------------------------------------------------------------------
    Cell("Pipedrive", "429 burst", "refresh", (pd(PD_TOKEN, status=429),), COMPLETES, NOTHING, "nothing"),
    Cell(
        "Pipedrive",
        "429 burst",
        "field validation",
        (pd(PD_ORG_FIELDS, status=429),),
        COMPLETES,
        NOTHING,
        "nothing",
    ),
    Cell(
        "Pipedrive",
        "429 burst",
        "load",
        (pd(PD_ORG_CREATE, status=429, after=3),),
        COMPLETES,
        NOTHING,
        "nothing",
    ),
    # ---- Pipedrive 429 daily (no tokens left today) ------------------------------------------------
    Cell(
        "Pipedrive",
        "429 daily",
        "refresh",
        (pd(PD_ME, status=429, headers=DAILY_SPENT),),
        COMPLETES,
        NOTHING,
        "nothing",
        world=API_TOKEN,
        note="the credential check is skipped with a warning; the load has its budget",
    ),
    Cell(
        "Pipedrive",
        "429 daily",
        "field validation",
        (pd(PD_ORG_FIELDS, status=429, headers=DAILY_SPENT, count=PERSISTENT),),
        DEFERS,
        DEFERRED,
        "next run",
    ),
    Cell(
        "Pipedrive",
        "429 daily",
        "load",
        (pd(PD_ORG_CREATE, status=429, headers=DAILY_SPENT, after=3, count=PERSISTENT),),
        DEFERS,
        DEFERRED,
        "next run",
    ),
    # ---- Pipedrive 400 ---------------------------------------------------------------------------
    Cell(
        "Pipedrive",
        "400",
        "refresh",
        (pd(PD_TOKEN, status=400, count=PERSISTENT),),
        fails("refresh_tokens", "ApiError", retried=False, message="token request failed"),
        FIX_CLEAR,
        "clear",
    ),
    Cell(
        "Pipedrive",
        "400",
        "field validation",
        (pd(PD_ORG_FIELD_CREATE, status=400),),
        fails("validate_field_definitions", "ApiError", retried=False, message="HTTP 400"),
        FIX_CLEAR,
        "clear",
    ),
    Cell(
        "Pipedrive",
        "400",
        "load",
        (pd(PD_PERSON_CREATE, status=400, count=3),),
        fails("report", "RunIncomplete", retried=False, message="3 "),
        "fix what the failed records' reasons name; the next run writes them",
        "next run",
    ),
    Cell(
        "Pipedrive",
        "400",
        "load",
        (pd(PD_ORGS, status=400, count=PERSISTENT),),
        fails("load", "ApiError", retried=False, message="HTTP 400"),
        FIX_CLEAR,
        "clear",
        note="the listing",
    ),
    # ---- Pipedrive 500 ---------------------------------------------------------------------------
    Cell("Pipedrive", "500", "refresh", (pd(PD_TOKEN, status=500),), COMPLETES, NOTHING, "nothing"),
    Cell(
        "Pipedrive",
        "500",
        "field validation",
        (pd(PD_ORG_FIELDS, status=500),),
        COMPLETES,
        NOTHING,
        "nothing",
    ),
    Cell(
        "Pipedrive",
        "500",
        "load",
        (pd(PD_ORGS, status=500),),
        COMPLETES,
        NOTHING,
        "nothing",
        note="the listing",
    ),
    Cell(
        "Pipedrive",
        "500",
        "load",
        (pd(PD_ORG_CREATE, status=500, after=3),),
        COMPLETES,
        NOTHING,
        "nothing",
        note="a create: looked up, then created",
    ),
    # ---- Pipedrive 502 / 503 / 504 -----------------------------------------------------------------
    Cell("Pipedrive", "502", "refresh", (pd(PD_TOKEN, status=502),), COMPLETES, NOTHING, "nothing"),
    Cell(
        "Pipedrive",
        "502",
        "field validation",
        (pd(PD_ORG_FIELDS, status=502),),
        COMPLETES,
        NOTHING,
        "nothing",
    ),
    Cell(
        "Pipedrive",
        "502",
        "load",
        (pd(PD_ORG_CREATE, status=502, after=3),),
        COMPLETES,
        NOTHING,
        "nothing",
    ),
    Cell("Pipedrive", "503", "refresh", (pd(PD_TOKEN, status=503),), COMPLETES, NOTHING, "nothing"),
    Cell(
        "Pipedrive",
        "503",
        "field validation",
        (pd(PD_ORG_FIELD_CREATE, status=503),),
        fails("validate_field_definitions", "OutcomeUnknown", retried=True),
        RETRY,
        "airflow retry",
        note="a field create is not resent blindly; the retry finds the field if it was made",
    ),
    Cell(
        "Pipedrive",
        "503",
        "load",
        (pd(PD_ORGS, status=503, count=PERSISTENT),),
        fails("load", "RetriesExhausted", retried=True),
        OUTAGE,
        "clear",
        note="an outage that outlasts the retries",
    ),
    Cell("Pipedrive", "504", "refresh", (pd(PD_TOKEN, status=504),), COMPLETES, NOTHING, "nothing"),
    Cell(
        "Pipedrive",
        "504",
        "field validation",
        (pd(PD_ORG_FIELDS, status=504),),
        COMPLETES,
        NOTHING,
        "nothing",
    ),
    Cell(
        "Pipedrive", "504", "load", (pd(PD_ORG_CREATE, status=504, after=3),), COMPLETES, NOTHING, "nothing"
    ),
    # ---- Pipedrive timeout, dropped connection, lost response, malformed JSON --------------------
    Cell(
        "Pipedrive",
        "timeout",
        "refresh",
        (pd(PD_TOKEN, "delay", delay_ms=PAST_TIMEOUT_MS),),
        COMPLETES,
        NOTHING,
        "nothing",
    ),
    Cell(
        "Pipedrive",
        "timeout",
        "field validation",
        (pd(PD_ORG_FIELDS, "delay", delay_ms=PAST_TIMEOUT_MS),),
        COMPLETES,
        NOTHING,
        "nothing",
    ),
    Cell(
        "Pipedrive",
        "timeout",
        "load",
        (pd(PD_ORG_CREATE, "delay", delay_ms=PAST_TIMEOUT_MS, after=3),),
        COMPLETES,
        NOTHING,
        "nothing",
        note="the create is applied late: looked up and adopted",
    ),
    Cell(
        "Pipedrive", "dropped connection", "refresh", (pd(PD_TOKEN, "drop"),), COMPLETES, NOTHING, "nothing"
    ),
    Cell(
        "Pipedrive",
        "dropped connection",
        "field validation",
        (pd(PD_ORG_FIELDS, "drop"),),
        COMPLETES,
        NOTHING,
        "nothing",
    ),
    Cell(
        "Pipedrive",
        "dropped connection",
        "load",
        (pd(PD_ORG_CREATE, "drop", after=3),),
        COMPLETES,
        NOTHING,
        "nothing",
    ),
    Cell(
        "Pipedrive",
        "lost_response",
        "refresh",
        (pd(PD_TOKEN, "lost_response"),),
        COMPLETES,
        NOTHING,
        "nothing",
        note="a refresh is idempotent: the token endpoint is asked again",
    ),
    Cell(
        "Pipedrive",
        "lost_response",
        "field validation",
        (pd(PD_ORG_FIELD_CREATE, "lost_response"),),
        fails("validate_field_definitions", "OutcomeUnknown", retried=True),
        RETRY,
        "airflow retry",
        note="the retry finds the field that was made and does not make it twice",
    ),
    Cell(
        "Pipedrive",
        "lost_response",
        "load",
        (pd(PD_ORG_CREATE, "lost_response", after=3),),
        COMPLETES,
        NOTHING,
        "nothing",
        note="looked up and adopted, not created twice",
    ),
    Cell(
        "Pipedrive",
        "lost_response",
        "load",
        (pd(PD_PERSON_CREATE, "lost_response", status=502, after=2),),
        COMPLETES,
        NOTHING,
        "nothing",
        note="a person create answered by a 502 after it was applied",
    ),
    Cell(
        "Pipedrive", "malformed JSON", "refresh", (pd(PD_TOKEN, "malformed"),), COMPLETES, NOTHING, "nothing"
    ),
    Cell(
        "Pipedrive",
        "malformed JSON",
        "field validation",
        (pd(PD_ORG_FIELDS, "malformed"),),
        COMPLETES,
        NOTHING,
        "nothing",
    ),
    Cell(
        "Pipedrive",
        "malformed JSON",
        "load",
        (pd(PD_ORG_CREATE, "malformed", after=3),),
        COMPLETES,
        NOTHING,
        "nothing",
    ),
    # ---- Pipedrive expired access token, invalid_grant, the edge page -------------------------------
    Cell(
        "Pipedrive",
        "expired access token",
        "field validation",
        (pd(PD_ORG_FIELDS, "expired_token"),),
        COMPLETES,
        NOTHING,
        "nothing",
    ),
    Cell(
        "Pipedrive",
        "expired access token",
        "load",
        (pd(PD_ORG_CREATE, "expired_token", after=3),),
        COMPLETES,
        NOTHING,
        "nothing",
    ),
    Cell(
        "Pipedrive",
        "invalid_grant",
        "refresh",
        (pd(PD_TOKEN, status=400, body=INVALID_GRANT, content_type="application/json", count=PERSISTENT),),
        fails("refresh_tokens", "TokenRejected", retried=False, message="invalid_grant"),
        NEW_TOKEN,
        "clear",
    ),
    Cell(
        "Pipedrive",
        "invalid_grant",
        "field validation",
        (
            pd(PD_ORG_FIELDS, "expired_token"),
            pd(
                PD_TOKEN,
                status=400,
                body=INVALID_GRANT,
                content_type="application/json",
                count=PERSISTENT,
                after=1,
            ),
        ),
        fails("validate_field_definitions", "TokenRejected", retried=False, message="invalid_grant"),
        NEW_TOKEN,
        "clear",
    ),
    Cell(
        "Pipedrive",
        "invalid_grant",
        "load",
        (
            pd(PD_ORG_CREATE, "expired_token", after=3),
            pd(
                PD_TOKEN,
                status=400,
                body=INVALID_GRANT,
                content_type="application/json",
                count=PERSISTENT,
                after=1,
            ),
        ),
        fails("load", "TokenRejected", retried=False, message="invalid_grant"),
        NEW_TOKEN,
        "clear",
    ),
    Cell(
        "Pipedrive",
        "403 edge page",
        "refresh",
        (pd(PD_ME, status=403, count=PERSISTENT),),
        fails("refresh_tokens", "EdgeBlocked", retried=False, message="Cloudflare"),
        WAIT_CLEAR,
        "clear",
        world=API_TOKEN,
    ),
    Cell(
        "Pipedrive",
        "403 edge page",
        "field validation",
        (pd(PD_ORG_FIELDS, status=403, count=PERSISTENT),),
        fails("validate_field_definitions", "EdgeBlocked", retried=False, message="Cloudflare"),
        WAIT_CLEAR,
        "clear",
    ),
    Cell(
        "Pipedrive",
        "403 edge page",
        "load",
        (pd(PD_ORG_CREATE, status=403, after=3, count=PERSISTENT),),
        fails("load", "EdgeBlocked", retried=False, message="Cloudflare"),
        WAIT_CLEAR,
        "clear",
    ),
    # ---- Workday SOAP faults ---------------------------------------------------------------------
    Cell(
        "Workday",
        "validation fault",
        "refresh",
        (_soap(VALIDATION_FAULT, count=PERSISTENT),),
        fails("refresh_tokens", "WorkdayValidationError", retried=False, message="Customer_Category_ID"),
        FIX_CLEAR,
        "clear",
        world=ISU,
    ),
    Cell(
        "Workday",
        "validation fault",
        "extract",
        (_soap(VALIDATION_FAULT, count=PERSISTENT),),
        fails("extract", "WorkdayValidationError", retried=False, message="Customer_Category_ID"),
        FIX_CLEAR,
        "clear",
    ),
    Cell(
        "Workday",
        "processing fault",
        "refresh",
        (_soap(PROCESSING_FAULT),),
        COMPLETES,
        NOTHING,
        "nothing",
        world=ISU,
    ),
    Cell(
        "Workday",
        "processing fault",
        "extract",
        (_soap(PROCESSING_FAULT),),
        COMPLETES,
        NOTHING,
        "nothing",
    ),
    Cell(
        "Workday",
        "processing fault",
        "extract",
        (_soap(PROCESSING_FAULT, count=PERSISTENT),),
        fails("extract", "RetriesExhausted", retried=True, message="processingError"),
        OUTAGE,
        "clear",
        note="Workday busy for longer than the retries",
    ),
    Cell(
        "Workday",
        "HTTP 500 without a SOAP body",
        "refresh",
        (wd(WD_REVENUE, status=500, body="", content_type="text/plain"),),
        COMPLETES,
        NOTHING,
        "nothing",
        world=ISU,
    ),
    Cell(
        "Workday",
        "HTTP 500 without a SOAP body",
        "extract",
        (wd(WD_REVENUE, status=500, body="", content_type="text/plain"),),
        COMPLETES,
        NOTHING,
        "nothing",
    ),
    Cell(
        "Workday",
        "503 HTML page",
        "refresh",
        (wd(WD_TOKEN, status=503, body=SOAP_503, content_type="text/html"),),
        COMPLETES,
        NOTHING,
        "nothing",
    ),
    Cell(
        "Workday",
        "503 HTML page",
        "refresh",
        (wd(WD_REVENUE, status=503),),
        COMPLETES,
        NOTHING,
        "nothing",
        world=ISU,
    ),
    Cell(
        "Workday",
        "503 HTML page",
        "extract",
        (wd(WD_REVENUE, status=503, after=1),),
        COMPLETES,
        NOTHING,
        "nothing",
    ),
    Cell(
        "Workday",
        "truncated XML",
        "refresh",
        (wd(WD_REVENUE, "malformed"),),
        COMPLETES,
        NOTHING,
        "nothing",
        world=ISU,
    ),
    Cell(
        "Workday",
        "truncated XML",
        "extract",
        (wd(WD_REVENUE, "malformed"),),
        COMPLETES,
        NOTHING,
        "nothing",
        note="the page is read once more",
    ),
    Cell(
        "Workday",
        "truncated XML",
        "extract",
        (wd(WD_REVENUE, "malformed", count=PERSISTENT),),
        fails("extract", "UnreadablePage", retried=False, message="not well-formed"),
        "find what cuts Workday's answers (a proxy, the network), then " + CLEAR,
        "clear",
        note="every answer cut: read again, then in smaller pages, then given up as broken responses",
    ),
    Cell(
        "Workday",
        "unparseable record",
        "extract",
        (),
        COMPLETES,
        "correct the record in Workday; the run has set it aside as rejected with its ID",
        "nothing",
        mutate={"unparseable_customers": 1},
    ),
    # ---- Workday OAuth ---------------------------------------------------------------------------
    Cell(
        "Workday",
        "expired access token",
        "extract",
        (wd(WD_REVENUE, "expired_token"),),
        COMPLETES,
        NOTHING,
        "nothing",
    ),
    Cell(
        "Workday",
        "invalid_grant",
        "refresh",
        (wd(WD_TOKEN, status=400, body=WD_INVALID_GRANT, content_type="application/json", count=PERSISTENT),),
        fails("refresh_tokens", "TokenRejected", retried=False, message="invalid_grant"),
        NEW_TOKEN,
        "clear",
    ),
    Cell(
        "Workday",
        "invalid_grant",
        "extract",
        (
            wd(WD_REVENUE, "expired_token"),
            wd(
                WD_TOKEN,
                status=400,
                body=WD_INVALID_GRANT,
                content_type="application/json",
                count=PERSISTENT,
                after=1,
            ),
        ),
        fails("extract", "TokenRejected", retried=False, message="invalid_grant"),
        NEW_TOKEN,
        "clear",
    ),
    # ---- Workday REST / RaaS 429 -------------------------------------------------------------------
    Cell(
        "Workday",
        "REST 429",
        "extract",
        (wd(WD_REST, status=429),),
        COMPLETES,
        NOTHING,
        "nothing",
        world=REST,
        known_bug=KnownBug(
            None, None, BUG_REST, diverges=r"^(missing organization|extra organization|wrong link: person) "
        ),
    ),
    Cell(
        "Workday",
        "REST 429",
        "extract",
        (wd(WD_REST, status=429, count=PERSISTENT),),
        fails("extract", "RetriesExhausted", retried=True, message="429"),
        OUTAGE,
        "clear",
        world=REST,
        known_bug=KnownBug(
            None, None, BUG_REST, diverges=r"^(missing organization|extra organization|wrong link: person) "
        ),
    ),
    Cell(
        "Workday",
        "RaaS 429",
        "extract",
        (wd(WD_RAAS, status=429),),
        COMPLETES,
        NOTHING,
        "nothing",
        world=RAAS,
    ),
    Cell(
        "Workday",
        "RaaS 429",
        "extract",
        (wd(WD_RAAS, status=429, count=PERSISTENT),),
        fails("extract", "RetriesExhausted", retried=True, message="429"),
        OUTAGE,
        "clear",
        world=RAAS,
    ),
)

# The short version (make test, about 90 s): one cell of each distinct outcome and recovery path, the first cell of each
# (api, fault, phase) named here; every cell runs in the long version (make soak).
SHORT = {
    ("Pipedrive", "429 daily", "load"),
    ("Pipedrive", "400", "load"),
    ("Pipedrive", "500", "field validation"),
    ("Pipedrive", "503", "load"),
    ("Pipedrive", "lost_response", "load"),
    ("Pipedrive", "invalid_grant", "refresh"),
    ("Pipedrive", "403 edge page", "load"),
    ("Workday", "validation fault", "extract"),
    ("Workday", "unparseable record", "extract"),
    ("Workday", "RaaS 429", "extract"),
}


def _short(cells: tuple[Cell, ...]) -> tuple[Cell, ...]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for cell in cells:
        key = (cell.api, cell.fault, cell.phase)
        out.append(replace(cell, short=key in SHORT and key not in seen))
        seen.add(key)
    return tuple(out)


CELLS = _short(CELLS)
SHORT_ENV = "ML_CONNECTOR_FAULT_CELLS"


def selected() -> tuple[Cell, ...]:
    """The cells this session runs: ``ML_CONNECTOR_FAULT_CELLS=short`` (make test) or ``all`` (make soak);
    the default is short."""
    which = os.environ.get(SHORT_ENV, "short").strip().lower()
    if which not in ("short", "all"):
        raise ValueError(f"{SHORT_ENV} must be 'short' or 'all', not {which!r}")
    return CELLS if which == "all" else tuple(c for c in CELLS if c.short)
