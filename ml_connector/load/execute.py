"""Executing a plan's writes: the payload of each, journalled sends on a small worker pool, and what each
outcome means.

Writes run on a few threads, each keeps its own outcome, and the first error that stops the run
(:func:`ml_connector.errors.stops_run`) stops every write not yet sent. Pacing under Pipedrive's limits
is the hook's (its calls wait for the burst window); how many writes are in flight at once is decided
here, by the caller's ``max_workers``. Every success is journalled the moment it returns, so a killed
load is resumed without a duplicate (:mod:`ml_connector.load.state`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from ml_connector.errors import stops_run
from ml_connector.fields import ResolvedFields
from ml_connector.http.errors import ApiError, BudgetExhausted, OutcomeUnknown
from ml_connector.load.known import KnownState
from ml_connector.load.plan import ORG_ID, PlannedOp, is_empty
from ml_connector.load.state import Journal, JournalEntry
from ml_connector.vocabulary import RecordKind

T = TypeVar("T")
R = TypeVar("R")


def run_concurrently(
    fn: Callable[[T], R], items: Iterable[T], *, max_workers: int = 4
) -> list[tuple[T, R | Exception]]:
    """Run ``fn`` over ``items`` on ``max_workers`` threads; results in input order.

    A failed item keeps its exception and the others go on. After an edge block, a refused credential
    or an exhausted budget nothing more is sent: every item not yet started gets that error, so the
    caller can tell what was deferred.
    """
    work = list(items)
    stop: list[Exception] = []
    stop_lock = threading.Lock()

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

    with ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="pipedrive") as pool:
        results = list(pool.map(run, work))
    return list(zip(work, results, strict=True))


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
    success at once; counts requests sent."""

    def __init__(
        self,
        hook: RecordWriter,
        resolved: ResolvedFields,
        journal: Journal,
        known: KnownState,
        run_id: str,
        check_lease: Callable[[], None] = lambda: None,
    ) -> None:
        self.hook = hook
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
        self.journal.append(
            JournalEntry(self.run_id, op.kind, op.key, op.action, pipedrive_id, op.row.content_hash, desired)
        )

    def write_all(
        self, ops: list[PlannedOp], *, max_workers: int
    ) -> list[tuple[PlannedOp, dict[str, Any] | Exception]]:
        if not ops:
            return []
        self.hook.connect()
        return run_concurrently(self.write, ops, max_workers=max_workers)


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
