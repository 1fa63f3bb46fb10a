"""How the Pipedrive hook reads HTTP: which operation a request was, what a response means, shared pacing.

* :func:`operation` maps a concrete request to the path template the cost table is keyed by.
* :class:`PipedriveClassifier` sorts failures into the :mod:`ml_connector.http.errors` taxonomy the
  way Pipedrive means them (an HTML 403 is its edge blocking us; a 429 with no daily tokens left is
  the budget, not a burst).
* :func:`shared_limiters` hands every hook of one connection and credential in the process the same
  burst and search windows, since Pipedrive counts per token, not per client object.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

import requests

from ml_connector.http.errors import (
    ApiError,
    BudgetExhausted,
    CredentialRejected,
    EdgeBlocked,
    OutcomeUnknown,
    TransientError,
)
from ml_connector.http.pacing import RollingWindowLimiter
from ml_connector.pipedrive_limits import BURST_LIMITS, SEARCH_BURST_LIMIT, WINDOW_S, AuthKind, token_costs

SYSTEM = "pipedrive"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Requests Pipedrive does not charge: refused before the API ran (auth, burst, edge) or a gateway failure.
UNCHARGED_STATUSES = frozenset({401, 403, 429})
# The share of a window the hook fills. Jitter needs no margin (a slot is held until its answer is
# back, see RollingWindowLimiter.slot); this one leaves room for a few calls outside the limiter on
# the same token (another process, a person's script) before they cost a 429.
SAFETY_MARGIN = 0.99
IDEMPOTENT_METHODS = frozenset({"GET", "PATCH", "PUT", "DELETE"})


# -- operations and their token cost ----------------------------------------------------------------
@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    cost: int

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def is_search(self) -> bool:
        return self.template.endswith("/search")


@cache
def _patterns() -> tuple[tuple[str, str, re.Pattern[str] | None, int], ...]:
    """Templates without placeholders first, so ``/organizations/search`` never reads as ``/{id}``."""
    rows: list[tuple[str, str, re.Pattern[str] | None, int]] = []
    for (method, template), cost in token_costs().items():
        if "{" in template:
            regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
            rows.append((method, template, re.compile(regex + "$"), cost))
        else:
            rows.append((method, template, None, cost))
    rows.sort(key=lambda row: row[2] is not None)
    return tuple(rows)


@cache
def operation(method: str, path: str) -> Operation:
    """The documented operation behind ``method path`` (an unknown one costs 0)."""
    method = method.upper()
    path = path.rstrip("/") or "/"
    for m, template, pattern, cost in _patterns():
        if m != method:
            continue
        if (pattern is None and path.endswith(template)) or (pattern is not None and pattern.search(path)):
            return Operation(method, template, cost)
    return Operation(method, path, 0)


def request_operation(response: requests.Response) -> Operation:
    request = response.request
    return operation(request.method or "GET", urlsplit(request.url or "").path)


# -- classification ----------------------------------------------------------------------------------
def header_int(response: requests.Response, name: str) -> int | None:
    raw = response.headers.get(name)
    try:
        return int(float(raw)) if raw is not None else None
    except ValueError:
        return None


def wait_hint_s(response: requests.Response) -> float | None:
    """The longer of ``Retry-After`` and ``x-ratelimit-reset`` (both seconds), if either is given."""
    hints = []
    for name in ("retry-after", "x-ratelimit-reset"):
        raw = response.headers.get(name)
        try:
            value = float(raw) if raw is not None else math.nan
        except ValueError:
            continue
        if math.isfinite(value) and value >= 0:
            hints.append(value)
    return max(hints) if hints else None


def is_html(response: requests.Response) -> bool:
    content_type = response.headers.get("content-type", "").lower()
    return "html" in content_type or response.content.lstrip()[:1] == b"<"


def error_message(response: requests.Response) -> tuple[str, str | None]:
    """Pipedrive's own ``error`` and its ``error_info`` / ``code``; never the raw body of an HTML page."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error"):
        details = [str(body[key]) for key in ("code", "error_info") if body.get(key)]
        return str(body["error"]), "; ".join(details) or None
    return (response.reason or f"HTTP {response.status_code}"), None


class PipedriveClassifier:
    """Raise the right error for a failed response; check a 2xx body is whole JSON."""

    def __init__(self, conn_id: str, auth_kind: str, reserve: int) -> None:
        self.conn_id = conn_id
        self.auth_kind = auth_kind
        self.reserve = reserve

    def __call__(self, response: requests.Response) -> None:
        status = response.status_code
        op = request_operation(response)
        what = f"{op.method} {urlsplit(response.request.url or '').path}"
        if status < 300:
            self._check_body(response, op, what)
            return
        if status == 403 and is_html(response):
            raise EdgeBlocked(
                SYSTEM,
                f"{what}: Pipedrive's edge (Cloudflare) blocked connection '{self.conn_id}' with an HTML "
                "403 page after too many rate-limited requests; stop calling and try again later, "
                "retrying only prolongs the block",
                status=403,
            )
        message, detail = error_message(response)
        if status == 401:
            raise CredentialRejected(SYSTEM, self._rejected(message), status=401, detail=detail)
        daily_left = header_int(response, "x-daily-ratelimit-token-remaining")
        if status == 429 and daily_left is not None and daily_left < max(op.cost, 1):
            # Not a burst: waiting seconds will not help before the daily reset.
            raise BudgetExhausted(
                SYSTEM,
                f"{what}: the daily API token budget of connection '{self.conn_id}' is used up "
                f"(Pipedrive answered 429 with {daily_left} tokens left); the rest waits for the next run",
                remaining=daily_left,
                reserve=self.reserve,
                status=429,
            )
        if status in RETRYABLE_STATUSES:
            raise TransientError(
                SYSTEM,
                f"{what}: {message}",
                status=status,
                retry_after_s=wait_hint_s(response),
                detail=detail,
            )
        raise ApiError(SYSTEM, f"{what}: {message}", status=status, detail=detail)

    def _check_body(self, response: requests.Response, op: Operation, what: str) -> None:
        try:
            json.loads(response.content)
        except ValueError:
            if op.method in IDEMPOTENT_METHODS:
                raise TransientError(
                    SYSTEM, f"{what}: malformed JSON body", status=response.status_code
                ) from None
            # The server did the write; sending it again could create a duplicate.
            raise OutcomeUnknown(
                SYSTEM,
                f"{what}: the response body was cut off; the write may have been applied, "
                "so it is not repeated",
                status=response.status_code,
            ) from None

    def _rejected(self, message: str) -> str:
        if self.auth_kind == "oauth2":
            fix = (
                "the access token was refused even after a refresh; re-authorize the app and store the new "
                "refresh token in the connection's extra 'refresh_token'"
            )
        else:
            fix = (
                "the API token in the connection's password is wrong or was regenerated; copy the current one "
                "from Pipedrive (Personal preferences > API) into the connection"
            )
        return f"Pipedrive refused connection '{self.conn_id}' ({message}): {fix}"


def is_charged(response: requests.Response) -> bool:
    """Whether Pipedrive charged this request: it reached the API (2xx, or a 4xx the API itself gave)."""
    status = response.status_code
    return status < 500 and status not in UNCHARGED_STATUSES


# -- shared pacing ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Limiters:
    burst: RollingWindowLimiter
    search: RollingWindowLimiter


_registry: dict[tuple[str, str, int], Limiters] = {}
_registry_lock = threading.Lock()


def credential_fingerprint(secret: str) -> str:
    """A short one-way id of a credential: tells tokens apart without keeping them in a dict key."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def shared_limiters(auth_kind: str, plan: str, fingerprint: str) -> Limiters:
    """The process-wide windows of one credential: 99% of the plan's limits (rounded down) per 2 s.

    Keyed by the credential, not the connection id: Pipedrive counts per token, so two connections
    holding the same token must share one window.
    """
    limit = BURST_LIMITS["oauth" if auth_kind == "oauth2" else "api_token"][plan]
    key = (fingerprint, auth_kind, limit)
    with _registry_lock:
        limiters = _registry.get(key)
        if limiters is None:
            limiters = Limiters(
                burst=RollingWindowLimiter(paced_slots(limit), WINDOW_S),
                search=RollingWindowLimiter(paced_slots(SEARCH_BURST_LIMIT), WINDOW_S),
            )
            _registry[key] = limiters
        return limiters


def paced_slots(limit: int) -> int:
    """How many of a window's ``limit`` requests the hook lets itself send: SAFETY_MARGIN, at least one."""
    return max(1, math.floor(limit * SAFETY_MARGIN))


def sustainable_share(auth: AuthKind, plan: str, latency_s: float) -> float:
    """The share of the plan's burst limit the pacing can sustain when a call takes ``latency_s`` from
    send to answer: each slot serves one call per window plus that call's round trip (about 93% at
    100 ms). What a benchmark's measured rate is best compared with."""
    limit = BURST_LIMITS[auth][plan]
    return paced_slots(limit) / limit * WINDOW_S / (WINDOW_S + max(0.0, latency_s))


def pause_if_spent(response: requests.Response, limiters: Limiters, op: Operation) -> None:
    """``x-ratelimit-remaining: 0``: someone else used the window too; hold all threads for the reset."""
    if header_int(response, "x-ratelimit-remaining") != 0:
        return
    reset = wait_hint_s(response) or WINDOW_S
    (limiters.search if op.is_search else limiters.burst).pause_for(reset)
