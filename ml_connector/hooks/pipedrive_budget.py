"""The daily token budget as one connection sees it: what was spent, what is left, what may still be sent.

Pipedrive charges every call its operation's cost from a company-wide daily pool and answers 429
once the pool is empty, for every integration of the company. The hook keeps a reserve for the others:
a call whose cost would take the pool below it is refused *before* it is sent (:class:`BudgetExhausted`),
so a DAG can stop cleanly and leave the rest to its next run.

The remaining pool comes from ``x-daily-ratelimit-token-remaining`` when Pipedrive sends it (it is
undocumented and sometimes missing), else from the plan's budget minus what this process spent. Calls
in flight are counted against the pool, so concurrent workers cannot overshoot the reserve together.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from ml_connector.audit import events
from ml_connector.audit.events import RateLimitIncident, route_of
from ml_connector.hooks.pipedrive_http import SYSTEM, Operation, header_int, is_charged
from ml_connector.http.errors import BudgetExhausted

log = logging.getLogger(__name__)


class TokenBudget:
    """Thread-safe spend accounting for one hook."""

    def __init__(self, conn_id: str, plan_budget: int, reserve: int) -> None:
        self.conn_id = conn_id
        self.reserve = reserve
        self._plan_budget = plan_budget
        self._lock = threading.Lock()
        self._spent = 0
        self._in_flight = 0
        self._server_remaining: int | None = None
        self._server_limit: int | None = None
        self._reserve_reached = False
        self.calls: Counter[str] = Counter()
        self.tokens_by_op: Counter[str] = Counter()

    @property
    def spent(self) -> int:
        with self._lock:
            return self._spent

    @property
    def remaining(self) -> int:
        with self._lock:
            return self._remaining()

    @property
    def from_headers(self) -> bool:
        return self._server_remaining is not None

    @property
    def daily_limit(self) -> int:
        return self._server_limit if self._server_limit is not None else self._plan_budget

    def _remaining(self) -> int:
        if self._server_remaining is not None:
            return self._server_remaining
        return max(0, self._plan_budget - self._spent)

    @contextmanager
    def admit(self, op: Operation) -> Iterator[None]:
        """Hold ``op.cost`` against the pool while the call runs; refuse it if the reserve would be hit."""
        with self._lock:
            left = self._remaining() - self._in_flight
            if left - op.cost < self.reserve:
                exc = BudgetExhausted(
                    SYSTEM,
                    f"{op.name} (cost {op.cost}) not sent: connection '{self.conn_id}' has {left} daily "
                    f"tokens left and keeps {self.reserve} in reserve; the rest waits for the next run",
                    remaining=left,
                    reserve=self.reserve,
                )
                first, self._reserve_reached = not self._reserve_reached, True
                if first:
                    events.emit(RateLimitIncident(SYSTEM, route_of(op.name), "reserve", None, None, str(exc)))
                raise exc
            self._in_flight += op.cost
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= op.cost

    def observe(self, response: requests.Response, op: Operation) -> None:
        """Book one response: its cost if Pipedrive charged it, and the pool it reports."""
        remaining = header_int(response, "x-daily-ratelimit-token-remaining")
        limit = header_int(response, "x-daily-ratelimit-token-limit")
        charged = is_charged(response)
        with self._lock:
            if remaining is not None:
                self._server_remaining = remaining
            if limit is not None:
                self._server_limit = limit
            if charged:
                self._spent += op.cost
                self.tokens_by_op[op.name] += op.cost
            self.calls[op.name] += 1
            left = self._remaining()
        log.debug(
            "pipedrive %s -> %d, cost %d%s, %d daily tokens left",
            op.name,
            response.status_code,
            op.cost,
            "" if charged else " (not charged)",
            left,
        )

    def summary(self) -> str:
        with self._lock:
            ops = ", ".join(f"{name} x{n}" for name, n in sorted(self.calls.items()))
            source = "reported by Pipedrive" if self._server_remaining is not None else "estimated"
            return (
                f"Pipedrive connection '{self.conn_id}': {sum(self.calls.values())} calls, {self._spent} "
                f"tokens spent; {self._remaining()} of {self.daily_limit} daily tokens left ({source}), "
                f"reserve {self.reserve}" + (f" [{ops}]" if ops else "")
            )
