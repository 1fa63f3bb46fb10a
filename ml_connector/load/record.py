"""The record of one load: every final decision once, as a ledger row and log line (:mod:`ml_connector.audit`),
a summary count and a plan row; and whether the load must stop writing (budget, or an error a person must
fix)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from ml_connector.audit import AuditTrail, LoadSummary, ledger
from ml_connector.http.errors import BudgetExhausted
from ml_connector.load.inputs import Rejected
from ml_connector.load.plan import ORG_ID, WRITE_ACTIONS, PlannedOp, Row
from ml_connector.load.state import PLAN_SCHEMA, JournalEntry, plan_table
from ml_connector.pipedrive_limits import token_costs
from ml_connector.staging.files import RunFiles
from ml_connector.staging.spool import Spool
from ml_connector.vocabulary import PLURAL, RECORD_KINDS, RecordKind

log = logging.getLogger(__name__)

# How a write of another, unfinished load is recorded by the load that replays its journal.
FOREIGN_REPLAY = "written by the unfinished load"
# Decisions kept as ops before they become plan rows.
PLAN_BATCH_ROWS = 2_000
# Outcomes that keep a row for the next run.
CARRIED = frozenset({"deferred", "failed", "conflict"})


def write_cost(kind: RecordKind, action: str) -> int:
    """Tokens Pipedrive charges for one create, PATCH or merge of ``kind``."""
    plural = PLURAL[kind]
    route = {
        "create": ("POST", f"/api/v2/{plural}"),
        "update": ("PATCH", f"/api/v2/{plural}/{{id}}"),
        "merge": ("PUT", f"/v1/{plural}/{{id}}/merge"),
    }[action]
    return token_costs()[route]


class LoadRecord:
    """Collects the decisions of one load (thread-safe) and writes plan, ledger and summary at the end."""

    def __init__(self, audit: AuditTrail, summary: LoadSummary) -> None:
        self.audit = audit
        self.summary = summary
        # Decisions become plan rows (columns) a batch at a time; only what the end needs stays an op.
        self._plan = Spool(PLAN_SCHEMA)
        self._pending: list[PlannedOp] = []
        self._carried: list[PlannedOp] = []
        self._creates: dict[RecordKind, list[str]] = {kind: [] for kind in RECORD_KINDS}
        self.budget_error: BudgetExhausted | None = None
        self.stop_error: Exception | None = None
        # Keys this run wrote in an attempt that was killed: recorded from the journal, not again.
        self._resumed: set[tuple[str, str]] = set()
        self._earlier: set[tuple[str, str]] = set()  # of those, the ones its ledger file holds
        self._lock = threading.Lock()

    # -- decisions -------------------------------------------------------------------------------------
    def settle(self, op: PlannedOp, tokens: int | None = None) -> None:
        """A final decision: ledger row, log line, summary count, plan row."""
        if op.action == "unchanged" and (op.kind, op.key) in self._resumed:
            return  # already recorded as written by the earlier attempt
        if tokens is None:
            tokens = write_cost(op.kind, op.action) if op.action in {*WRITE_ACTIONS, "merge"} else 0
        self.audit.record(
            op.kind,
            op.key,
            op.action,
            pipedrive_id=op.pipedrive_id,
            fields=op.fields_changed,
            changes=[(c.field, c.before, c.after) for c in op.changes],
            reason=op.reason,
            tokens=tokens,
            status=op.status,
        )
        with self._lock:
            self.summary.count(op.kind, op.action)
            self._keep(op)

    def rejected(self, rejects: Iterable[Rejected]) -> None:
        for reject in rejects:
            op = reject.op
            self.audit.record(op.kind, op.key, "rejected", fields=reject.fields, reason=op.reason)
            self.summary.count(op.kind, "rejected")
            with self._lock:
                self._keep(op)

    def _keep(self, op: PlannedOp) -> None:
        """Under the lock: the op's plan row, and the op itself if the end of the load needs it."""
        self._pending.append(op)
        if op.action in CARRIED:
            self._carried.append(op)
        elif op.action == "create":
            self._creates[op.kind].append(op.key)
        if len(self._pending) >= PLAN_BATCH_ROWS:
            self._plan.append(plan_table(self._pending))
            self._pending = []

    def adopted(self, kind: RecordKind, found: dict[str, int], reason: str) -> None:
        """Records found in Pipedrive that the state did not know, now in the identity map: a ledger row
        each (no summary count: nothing was written)."""
        for key, pipedrive_id in sorted(found.items()):
            self.audit.record(kind, key, "adopted", pipedrive_id=pipedrive_id, reason=reason)

    def read(self, kind: RecordKind, n: int) -> None:
        (self.summary.organizations if kind == "organization" else self.summary.persons).read = n

    def written_earlier(self, rows: Iterable[dict[str, Any]]) -> None:
        """Writes an earlier attempt of this load recorded in its ledger file before it failed: counted in
        this summary, and their keys are not recorded again as unchanged (the ledger keeps the rows)."""
        for row in rows:
            if str(row["reason"] or "").startswith(FOREIGN_REPLAY):
                continue  # another run's write, recorded here from its journal: not this run's count
            kind, key, action = row["kind"], row["key"], row["action"]
            with self._lock:
                if (kind, key) in self._resumed:
                    continue
                self._resumed.add((kind, key))
            self._earlier.add((kind, key))
            self.summary.count(kind, action)

    def replayed(self, entries: Iterable[JournalEntry], run_id: str) -> None:
        """Writes of killed loads, from their journals: recorded here once (the killed load never wrote its
        ledger), and counted in this summary when they belong to this run."""
        recorded: dict[str, set[tuple[str, str, str]]] = {}
        for entry in entries:
            ours = entry.run_id == run_id
            if ours and (entry.kind, entry.key) in self._earlier:
                continue  # the earlier attempt's ledger file already has it
            if not ours:
                if entry.run_id not in recorded:  # that load wrote its ledger, then died before closing
                    rows = ledger.earlier_rows(self.audit.area, self.audit.entity, entry.run_id, "load")
                    recorded[entry.run_id] = {(r["kind"], r["key"], r["action"]) for r in rows}
                if (entry.kind, entry.key, entry.action) in recorded[entry.run_id]:
                    continue
            if ours:
                self._resumed.add((entry.kind, entry.key))
                self.summary.count(entry.kind, entry.action)
            self.audit.record(
                entry.kind,
                entry.key,
                entry.action,
                pipedrive_id=entry.pipedrive_id,
                fields=[f for f in entry.values if f != ORG_ID],
                reason="written by an earlier attempt of this run (journal)"
                if ours
                else f"{FOREIGN_REPLAY} {entry.run_id} (journal)",
                tokens=write_cost(entry.kind, entry.action),
            )

    def carry_all(self, kind: RecordKind, rows: Iterable[Row], identity: dict[str, int]) -> None:
        """Every row waits for the next run, for the reason the load stopped."""
        reason = self.stopped_reason()
        for row in rows:
            self.settle(PlannedOp(kind, row.key, "deferred", identity.get(row.key), reason=reason, row=row))

    # -- stopping --------------------------------------------------------------------------------------
    @property
    def stopped(self) -> bool:
        return self.budget_error is not None or self.stop_error is not None

    def budget_exhausted(self, kind: RecordKind, exc: BudgetExhausted) -> None:
        with self._lock:
            first = self.budget_error is None
            self.budget_error = self.budget_error or exc
        if first:
            self.summary.budget_exhausted = True
            self.audit.record(kind, "", "budget_exhausted", reason=str(exc))

    def stop(self, exc: Exception) -> None:
        with self._lock:
            self.stop_error = self.stop_error or exc

    def stopped_reason(self) -> str:
        if self.stop_error is not None:
            return f"not written: the load stopped ({type(self.stop_error).__name__})"
        return "daily Pipedrive token budget exhausted: written first on the next run"

    # -- the end ---------------------------------------------------------------------------------------
    def carried(self) -> Iterator[PlannedOp]:
        """The decisions that keep their row for the next run (deferred, failed, conflict)."""
        return iter(list(self._carried))

    def pending_creates(self, kind: RecordKind) -> list[str]:
        """Keys of ``kind`` this load plans to create (a dry run's persons point at them)."""
        return list(self._creates[kind])

    def finish(self, files: RunFiles, *, requests: int, tokens_spent: int) -> LoadSummary:
        self.summary.requests = requests
        self.summary.tokens_spent = tokens_spent
        with self._lock:
            self._plan.append(plan_table(self._pending))
            self._pending = []
        with files.table_writer("plan", PLAN_SCHEMA) as out:
            for batch in self._plan.batches():
                out.write_batch(batch)
        self.audit.flush()
        files.write_document("summary", self.summary.to_json())
        log.info("load %s %s: %s", self.summary.entity, self.summary.run_id, self.summary)
        return self.summary
