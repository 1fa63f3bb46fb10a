"""Executing a plan's writes: the payload of each, journalled sends on a worker pool sized to the plan's
burst window, and what each outcome means.

Writes run on threads, each keeps its own outcome, and the first error that stops the run
(:func:`ml_connector.errors.stops_run`) stops every write not yet sent. Pacing under Pipedrive's limits
is the hook's (its calls wait for the burst window); how many writes are in flight at once is decided
here: enough to keep that window full at the latency the hook observes (Little's law, see
:func:`concurrency_for`), re-sized after every write. Every success is journalled the moment it
returns, before the write counts as done, so a killed load is resumed without a duplicate
(:mod:`ml_connector.load.state`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from ml_connector.errors import stops_run
from ml_connector.fields import ResolvedFields
from ml_connector.http.errors import ApiError, BudgetExhausted, OutcomeUnknown
from ml_connector.http.pacing import MAX_IN_FLIGHT, LatencyEwma, WritePace
from ml_connector.load.known import KnownState
from ml_connector.load.plan import ORG_ID, PlannedOp, is_empty
from ml_connector.load.state import Journal, JournalEntry
from ml_connector.vocabulary import RecordKind

T = TypeVar("T")
R = TypeVar("R")

# Writes in flight before any latency is measured, and never fewer: the pool the load always had.
MIN_CONCURRENCY = 4
# Little's law gives the mean number in flight; the headroom keeps a thread waiting at the window
# whenever a slot frees (latency's spread, a write's own work, the interpreter's scheduling), since a
# slot taken late is a slot lost. Threads that wait for the window cost next to nothing.
HEADROOM = 2.0


def concurrency_for(
    rate_per_s: float,
    latency_s: float | None,
    *,
    max_in_flight: int,
    floor: int = MIN_CONCURRENCY,
    ceiling: int = MAX_IN_FLIGHT,
) -> int:
    """How many requests to keep in flight to send ``rate_per_s`` when each takes ``latency_s``.

    Little's law (in flight = rate x time in flight) with :data:`HEADROOM`; at least ``floor`` and never
    more than the limiter lets be in flight (``max_in_flight``, its slots) or ``ceiling`` threads. With
    no latency measured yet it is ``floor``.
    """
    top = max(1, min(ceiling, max_in_flight))
    least = min(max(1, floor), top)
    if latency_s is None:
        return least
    return max(least, min(top, math.ceil(rate_per_s * latency_s * HEADROOM)))


@dataclass(frozen=True)
class Sizing:
    """How a batch of writes was run: the concurrency chosen last and at most, and what it was sized by."""

    writes: int
    concurrency: int
    peak: int
    rate_per_s: float | None = None  # the burst window's sustained rate, when sized from it
    latency_s: float | None = None  # the hook's observed send-to-answer time
    journal_s: float | None = None  # the time a journal entry took to be durable

    def __str__(self) -> str:
        if self.rate_per_s is None:
            return f"{self.writes} write(s) on {self.concurrency} thread(s) (fixed)"
        return (
            f"{self.writes} write(s), concurrency {self.concurrency} (peak {self.peak}) for "
            f"{self.rate_per_s:.1f} requests/s allowed; latency {_ms(self.latency_s)}, "
            f"journal entry {_ms(self.journal_s)}"
        )


def _ms(seconds: float | None) -> str:
    return "not measured" if seconds is None else f"{seconds * 1000:.1f} ms"


class ConcurrencySizer:
    """Re-sizes a running batch: after each write, from the hook's pace plus the local time of a write
    (its journal entry), both measured as the batch goes."""

    def __init__(self, pace: Callable[[], WritePace], local: LatencyEwma) -> None:
        self.pace = pace
        self.local = local
        self.chosen = 0
        self.peak = 0
        self.last: WritePace | None = None

    def target(self) -> int:
        pace = self.last = self.pace()
        service = None if pace.latency_s is None else pace.latency_s + (self.local.value or 0.0)
        self.chosen = concurrency_for(pace.rate_per_s, service, max_in_flight=pace.max_in_flight)
        self.peak = max(self.peak, self.chosen)
        return self.chosen

    def sizing(self, writes: int) -> Sizing:
        pace = self.last
        return Sizing(
            writes,
            self.chosen,
            self.peak,
            rate_per_s=pace.rate_per_s if pace else None,
            latency_s=pace.latency_s if pace else None,
            journal_s=self.local.value,
        )


def run_concurrently(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    max_workers: int = MIN_CONCURRENCY,
    size: Callable[[], int] | None = None,
) -> list[tuple[T, R | Exception]]:
    """Run ``fn`` over ``items`` on up to ``max_workers`` threads; results in input order.

    ``size``, when given, is asked before each item is started how many may be in flight now (capped by
    ``max_workers``), so a batch can grow as latency is measured. A failed item keeps its exception and
    the others go on. After an edge block, a refused credential or an exhausted budget nothing more is
    sent: every item not yet started gets that error, so the caller can tell what was deferred.
    """
    work = list(items)
    stop: list[Exception] = []
    stop_lock = threading.Lock()
    workers = max(1, max_workers)

    def run(item: T) -> R | Exception:
        with stop_lock:
            if stop:
                return stop[0]
        try:
            return fn(item)
        except Exception as exc:
            if stops_run(exc):
                with stop_lock:
                    stop.append(exc)
            return exc

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pipedrive") as pool:
        if size is None:
            results = list(pool.map(run, work))
        else:
            results = [f.result() for f in _dispatch(pool, run, work, lambda: min(workers, max(1, size())))]
    return list(zip(work, results, strict=True))


def _dispatch(
    pool: ThreadPoolExecutor, run: Callable[[T], R], work: list[T], allowed: Callable[[], int]
) -> list[Future[R]]:
    """Submit ``work`` in order, never more than ``allowed()`` running at once (asked again whenever
    one finishes); the pool only starts a thread when none is idle, so threads follow the size."""
    running = 0
    done = threading.Condition()

    def finished(_: Future[R]) -> None:
        nonlocal running
        with done:
            running -= 1
            done.notify()

    futures: list[Future[R]] = []
    for item in work:
        with done:
            while running >= allowed():
                done.wait()
            running += 1
        future = pool.submit(run, item)
        future.add_done_callback(finished)
        futures.append(future)
    return futures


class RecordWriter(Protocol):
    """What the executor needs of the Pipedrive hook."""

    def create(self, entity: RecordKind, payload: dict[str, Any]) -> dict[str, Any]: ...
    def patch(self, entity: RecordKind, record_id: int, payload: dict[str, Any]) -> dict[str, Any]: ...
    def merge(self, entity: RecordKind, record_id: int, into_id: int) -> int: ...
    def connect(self) -> None: ...


NAME_PARTS = ("name", "first_name", "last_name")


def payload(op: PlannedOp, resolved: ResolvedFields) -> dict[str, Any]:
    """The request body of a planned write: changed fields only (a create leaves empties out), custom
    fields under their Pipedrive keys, and a person's ``org_id`` as is."""
    changed = op.changed_values()
    values = {k: v for k, v in changed.items() if k != ORG_ID}
    if op.action == "create":
        values = {k: v for k, v in values.items() if not is_empty(v)}
    if op.kind == "person" and op.row is not None and NAME_PARTS[0] in op.row.values:
        values = whole_name(values, op.row.values)  # after: its "" parts are meant, also on a create
    body = resolved.to_payload(op.kind, values)
    if ORG_ID in changed:
        body[ORG_ID] = changed[ORG_ID]
    return body


def whole_name(values: dict[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
    """A person's name goes out whole: Pipedrive fills the parts not sent from the ones sent (a new last
    name alone would keep a first name split off an old ``name``, and a ``name`` alone is split at its
    first space). A blank part is ``""``, which Pipedrive takes beside a ``name`` where it refuses ``null``."""
    if not any(part in values for part in NAME_PARTS):
        return values
    parts = {part: row.get(part) or "" for part in NAME_PARTS[1:] if part in row}
    whole = {"name": row.get("name"), **parts}
    rest = {k: v for k, v in values.items() if k not in NAME_PARTS}
    return {**rest, **whole}


class Writer:
    """Sends planned writes through the hook, each only while the write lease is held, journalling each
    success before it counts as done; counts requests sent."""

    def __init__(
        self,
        hook: RecordWriter,
        resolved: ResolvedFields,
        journal: Journal,
        known: KnownState,
        run_id: str,
        check_lease: Callable[[], None] = lambda: None,
        pace: Callable[[], WritePace] | None = None,
    ) -> None:
        self.hook = hook
        # what sizes the pool (the hook's :meth:`~ml_connector.hooks.pipedrive.PipedriveHook.write_pace`);
        # without it, or with an explicit ``max_workers``, the pool is fixed
        self.pace = pace
        self.journal_time = LatencyEwma()
        self.sizing: Sizing | None = None  # how the last batch ran
        self.check_lease = check_lease
        self.resolved = resolved
        self.journal = journal
        self.known = known
        self.run_id = run_id
        self.requests = 0
        self._lock = threading.Lock()

    def count_requests(self, n: int) -> None:
        with self._lock:
            self.requests += n

    def write(self, op: PlannedOp) -> dict[str, Any]:
        """One create or PATCH (runs on the pool's threads); raises what the hook raised."""
        assert op.row is not None
        body = payload(op, self.resolved)
        if op.action == "create":
            record = self._send(lambda: self.hook.create(op.kind, body))
        else:
            assert op.pipedrive_id is not None
            pipedrive_id = op.pipedrive_id
            record = self._send(lambda: self.hook.patch(op.kind, pipedrive_id, body))
        self.journal_write(op, int(record["id"]))
        return record

    def merge(self, kind: RecordKind, record_id: int, into_id: int) -> int:
        """Merge one duplicate into the record that survives; raises what the hook raised."""
        return self._send(lambda: self.hook.merge(kind, record_id, into_id))

    def _send(self, call: Callable[[], T]) -> T:
        """One write request, only while the lease is held (a lost lease raises and stops the other
        writes); counted unless the budget refused it before it was sent."""
        self.check_lease()
        try:
            result = call()
        except BudgetExhausted:
            raise  # refused before it was sent: no request
        except Exception:
            self.count_requests(1)
            raise
        self.count_requests(1)
        return result

    def journal_write(self, op: PlannedOp, pipedrive_id: int) -> None:
        """Record a write that Pipedrive has applied, before anything else happens."""
        assert op.row is not None
        desired = self.known.desired(op.row)
        started = time.monotonic()
        self.journal.append(
            JournalEntry(self.run_id, op.kind, op.key, op.action, pipedrive_id, op.row.content_hash, desired)
        )
        self.journal_time.observe(time.monotonic() - started)

    def write_all(
        self, ops: list[PlannedOp], *, max_workers: int | None = None
    ) -> list[tuple[PlannedOp, dict[str, Any] | Exception]]:
        """Send ``ops`` on ``max_workers`` threads, or, when not given, on as many as keep the burst
        window full (:class:`ConcurrencySizer`); :attr:`sizing` then says how it ran."""
        if not ops:
            return []
        self.hook.connect()
        if max_workers is not None or self.pace is None:
            workers = max(1, max_workers or MIN_CONCURRENCY)
            self.sizing = Sizing(len(ops), workers, workers)
            return run_concurrently(self.write, ops, max_workers=workers)
        sizer = ConcurrencySizer(self.pace, self.journal_time)
        results = run_concurrently(self.write, ops, max_workers=MAX_IN_FLIGHT, size=sizer.target)
        self.sizing = sizer.sizing(len(ops))
        return results


@dataclass(frozen=True)
class Outcome:
    """What one write's result means: the final decision and what the load must do about it."""

    op: PlannedOp
    budget: BudgetExhausted | None = None  # defer this and every later write
    stop: Exception | None = None  # a person must act: the task fails after the state is saved
    deleted: bool = False  # the record is gone from Pipedrive: forget its key


def lost_create(op: PlannedOp, result: dict[str, Any] | Exception) -> bool:
    """A create that may or may not have been applied (its answer was lost): look it up before anything."""
    return op.action == "create" and isinstance(result, OutcomeUnknown)


def outcome(op: PlannedOp, result: dict[str, Any] | Exception, *, deferred_reason: str) -> Outcome:
    """Classify one write's result (pure): written, deferred for the budget, or failed (and why)."""
    if not isinstance(result, Exception):
        return Outcome(op.but(op.action, op.reason, int(result["id"])))
    if isinstance(result, BudgetExhausted):  # Remedy.DEFER: the next run takes the rest
        return Outcome(op.but("deferred", deferred_reason), budget=result)
    deleted = isinstance(result, ApiError) and result.status == 404 and op.action == "update"
    status = result.status if isinstance(result, ApiError) else None
    return Outcome(
        replace(op.but("failed", failure_reason(result)), status=status),
        stop=result if stops_run(result) else None,
        deleted=deleted,
    )


def failure_reason(exc: Exception) -> str:
    """Why a write failed, without values: the API's message names fields, not their content."""
    if isinstance(exc, ApiError):
        return f"write failed ({type(exc).__name__}, HTTP {exc.status or '-'}): {exc.api_message}; retried next run"
    return f"write failed ({type(exc).__name__}); retried next run"
