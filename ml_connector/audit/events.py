"""Rate-limit incidents and token refreshes, from where they happen (the HTTP client, the token source)
to whoever records them (a task's :class:`~ml_connector.audit.trail.AuditTrail`).

The hooks own connections, not audit trails; so they only :func:`emit`, and a task that wants the events
as ledger rows listens for the time it runs. With no listener an event is only logged where it happened.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from ml_connector.http.errors import ApiError, BudgetExhausted, EdgeBlocked, TransientError

IncidentKind = Literal["burst", "daily", "edge", "reserve"]
RefreshOutcome = Literal["refreshed", "rejected", "failed"]


@dataclass(frozen=True)
class RateLimitIncident:
    """An API said "too much" (or the budget's reserve stopped a call before it was sent)."""

    system: str
    route: str  # "PATCH /api/v2/organizations/{id}": ids replaced, so incidents of one route group
    kind: IncidentKind
    status: int | None
    wait_s: float | None
    reason: str


@dataclass(frozen=True)
class TokenRefresh:
    """An OAuth access token was refreshed, or the identity provider refused to; never the token itself."""

    system: str
    conn_id: str
    outcome: RefreshOutcome
    reason: str = ""


Event = RateLimitIncident | TokenRefresh
Listener = Callable[[Event], None]

log = logging.getLogger(__name__)
_listeners: list[Listener] = []
_lock = threading.Lock()
_ID = re.compile(r"/\d+(?=/|$|\?)")


def emit(event: Event) -> None:
    """Hand ``event`` to every listener of this process (thread-safe)."""
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(event)
        except Exception:  # recording an incident must never change what the call raises or returns
            log.exception("could not record %s", type(event).__name__)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Receive every event emitted in this process while the block runs."""
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


def route_of(what: str) -> str:
    """``PATCH /api/v2/organizations/12`` -> ``PATCH /api/v2/organizations/{id}`` (query strings dropped)."""
    return _ID.sub("/{id}", what.split("?", 1)[0].split(": ", 1)[0])


def incident_of(exc: ApiError, what: str) -> RateLimitIncident | None:
    """The rate-limit incident an API error is, if it is one."""
    kind: IncidentKind | None = None
    wait = None
    if isinstance(exc, BudgetExhausted):
        kind = "daily" if exc.status == 429 else "reserve"
    elif isinstance(exc, EdgeBlocked):
        kind = "edge"
    elif isinstance(exc, TransientError) and exc.status == 429:
        kind, wait = "burst", exc.retry_after_s
    if kind is None:
        return None
    return RateLimitIncident(exc.system, route_of(what), kind, exc.status, wait, exc.api_message)
