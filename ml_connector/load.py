"""The load: write one run's transformed records to Pipedrive exactly once, organizations before persons.

Per kind the loader (1) replays the journals of unfinished loads into the identity map and pushed
values, (2) repairs the identity map by listing when it may be incomplete (see :mod:`identity`),
(3) plans every record (:mod:`plan`), (4) sends creates and changed-field PATCHes through the hook's
paced hook calls on the executor's worker pool (``run_concurrently``), journalling each success at once, and (5) persists state, the carried-over
rows, the plan, the ledger and the summary.

Modes: ``incremental`` and ``full_refresh`` plan alike against the values this DAG last pushed (a
full refresh differs upstream: it extracts everything); ``reconcile`` lists Pipedrive and diffs
against what the records actually hold there, so manual edits and deleted records are repaired.

Failures: an exhausted daily budget stops the writes and defers the rest without failing the task; a
failed write of one record (validation, retries exhausted) is recorded and carried over to the next
run; an edge block or a rejected credential ends the task after the state is saved. A process killed
mid-load leaves its journal, and the re-run resumes from it with no duplicate and no gap.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from ml_connector.audit import AuditTrail, LoadSummary
from ml_connector.errors import ConnectorError, stops_run
from ml_connector.executor import run_concurrently
from ml_connector.fields import ResolvedFields
from ml_connector.http.errors import ApiError, BudgetExhausted
from ml_connector.identity import Listing, list_identity
from ml_connector.load_state import (
    Journal,
    JournalEntry,
    plan_table,
    read_deferred,
    read_identity,
    read_pushed,
    rows_from_table,
    save_after_load,
)
from ml_connector.pipedrive_plans import token_costs
from ml_connector.plan import (
    ORG_ID,
    WRITE_ACTIONS,
    Known,
    PlanInputs,
    PlannedOp,
    Row,
    desired_values,
    is_empty,
    merge_carried,
    needs_listing,
    plan_records,
)
from ml_connector.staging import StagingArea
from ml_connector.stored import RunFiles, RunTable
from ml_connector.vocabulary import ENTITIES, MODES, PLURAL, RECORD_KINDS, Mode, RecordKind

if TYPE_CHECKING:
    from ml_connector.hooks.pipedrive import PipedriveHook

log = logging.getLogger(__name__)

STEPS: dict[RecordKind, RunTable] = {
    "organization": "transformed_organizations",
    "person": "transformed_persons",
}
# Outcomes that keep a row for the next run.
CARRIED = frozenset({"deferred", "failed", "conflict"})
MAX_WORKERS = 4


def write_cost(kind: RecordKind, action: str) -> int:
    plural = PLURAL[kind]
    if action == "create":
        return token_costs()[("POST", f"/api/v2/{plural}")]
    return token_costs()[("PATCH", f"/api/v2/{plural}/{{id}}")]


def run_load(
    hook: PipedriveHook,
    area: StagingArea,
    *,
    dag_id: str,
    run_id: str,
    entity: str,
    resolved: ResolvedFields,
    mode: Mode,
    dry_run: bool,
    max_workers: int = MAX_WORKERS,
) -> LoadSummary:
    """Load the run's ``transformed_*`` tables (and the rows carried over) into Pipedrive.

    Writes staging steps ``plan`` (Parquet) and ``summary`` (JSON) and the run's ledger; with
    ``dry_run`` it sends no write and changes no state. Returns the summary; raises only what no
    re-run can get past by itself (edge block, rejected credential, unreadable input).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if entity not in ENTITIES:
        raise ValueError(f"entity must be 'customers' or 'suppliers', not {entity!r}")
    return _Load(hook, area, dag_id, run_id, entity, resolved, mode, dry_run, max_workers).run()


class _Load:
    """The state of one load while it runs."""

    def __init__(
        self,
        hook: PipedriveHook,
        area: StagingArea,
        dag_id: str,
        run_id: str,
        entity: str,
        resolved: ResolvedFields,
        mode: Mode,
        dry_run: bool,
        max_workers: int,
    ) -> None:
        self.hook = hook
        self.area = area
        self.dag_id = dag_id
        self.run_id = run_id
        self.files = RunFiles(area, dag_id, run_id)
        self.entity = entity
        self.resolved = resolved
        self.mode = mode
        self.dry_run = dry_run
        self.max_workers = max_workers
        self.audit = AuditTrail(area, dag_id=dag_id, run_id=run_id, entity=entity, dry_run=dry_run)
        self.summary = LoadSummary(dag_id=dag_id, run_id=run_id, entity=entity, mode=mode, dry_run=dry_run)
        self.journal = Journal(area, entity, run_id)
        self.identity: dict[RecordKind, dict[str, int]] = {}
        self.pushed: dict[RecordKind, dict[str, Known]] = {}
        self.listed: dict[RecordKind, Listing | None] = {"organization": None, "person": None}
        # Keys whose Pipedrive record turned out deleted (404): kept out of the merged identity map.
        self.forgotten: dict[RecordKind, set[str]] = {"organization": set(), "person": set()}
        self.ops: list[PlannedOp] = []
        self.resumed_keys: set[tuple[str, str]] = set()
        self.budget_error: BudgetExhausted | None = None
        self.stop_error: ConnectorError | None = None
        self._requests = 0
        self._lock = threading.Lock()
        self._tokens_before = hook.tokens_spent

    # -- the whole load --------------------------------------------------------------------------------------
    def run(self) -> LoadSummary:
        rows = self._read_rows()
        journals = self._replay_journals()
        for kind in RECORD_KINDS:
            self._load_kind(kind, rows[kind], resumed=bool(journals))
        if not self.dry_run:
            self._save_state()
        self._finish()
        if not self.dry_run:
            # Last: a kill before this point replays the journals again, which is harmless.
            self.journal.close(journals)
        if self.stop_error is not None:
            raise self.stop_error
        return self.summary

    def _read_rows(self) -> dict[RecordKind, list[Row]]:
        carried = read_deferred(self.area, self.entity)
        rejected = self._record_rejected()
        rows: dict[RecordKind, list[Row]] = {}
        for kind in RECORD_KINDS:
            table = self.files.read_table(STEPS[kind])
            match = self.resolved.match_field(kind).name
            merged = merge_carried(rows_from_table(kind, table), carried[kind])
            # The record key is the identity: the Workday-ID field always carries exactly that.
            rows[kind] = [
                replace(r, values={**r.values, match: r.key}) for r in merged if (kind, r.key) not in rejected
            ]
            counts = self.summary.organizations if kind == "organization" else self.summary.persons
            counts.read = len(rows[kind])
        return rows

    def _record_rejected(self) -> set[tuple[str, str]]:
        if not self.files.has_table("rejected"):
            return set()
        keys: set[tuple[str, str]] = set()
        for rec in self.files.read_table("rejected").to_pylist():
            kind = cast(RecordKind, str(rec["entity"]))
            key = str(rec["key"])
            keys.add((kind, key))
            field = rec.get("field")
            op = PlannedOp(kind, key, "rejected", reason=str(rec.get("reason") or ""))
            self.audit.record(kind, key, "rejected", fields=[field] if field else [], reason=op.reason)
            self.summary.count(kind, "rejected")
            self.ops.append(op)
        return keys

    def _replay_journals(self) -> list[Any]:
        """Fold the writes of unfinished loads into the state they would have reached."""
        entries, files = self.journal.pending()
        for kind in RECORD_KINDS:
            self.identity[kind] = read_identity(self.area, kind)
            self.pushed[kind] = read_pushed(self.area, self.entity, kind)
        for entry in entries:
            self.identity[entry.kind][entry.key] = entry.pipedrive_id
            self.pushed[entry.kind][entry.key] = Known(entry.values, entry.content_hash)
            if self.dry_run:
                continue
            # The killed load never wrote its ledger: its writes are recorded here, once, and counted
            # in this summary when they belong to this run.
            ours = entry.run_id == self.run_id
            if ours:
                self.resumed_keys.add((entry.kind, entry.key))
                self.summary.count(entry.kind, entry.action)
            self.audit.record(
                entry.kind,
                entry.key,
                entry.action,
                pipedrive_id=entry.pipedrive_id,
                fields=[f for f in entry.values if f != ORG_ID],
                reason="written by an earlier attempt of this run (journal)"
                if ours
                else f"written by the unfinished load {entry.run_id} (journal)",
                tokens=write_cost(entry.kind, entry.action),
            )
        if files:
            self.summary.resumed = True
            log.info("resuming: %d journalled write(s) from %d unfinished load(s)", len(entries), len(files))
        return files

    # -- one kind --------------------------------------------------------------------------------------------
    def _load_kind(self, kind: RecordKind, rows: list[Row], *, resumed: bool) -> None:
        if not rows:
            return
        if self.budget_error is not None or self.stop_error is not None:
            self._carry_all(kind, rows, self._stopped_reason())
            return
        identity = self.identity[kind]
        skip_inactive = self.resolved.inactive_policy == "skip"
        if (
            self.mode == "reconcile"
            or resumed
            or not identity
            or needs_listing(rows, identity, skip_inactive=skip_inactive)
        ):
            try:
                self._repair_identity(kind)
            except BudgetExhausted as exc:
                self._budget_exhausted(kind, exc)
                self._carry_all(kind, rows, self._stopped_reason())
                return
        ops = plan_records(rows, self._inputs(kind))
        writes = [op for op in ops if op.action in WRITE_ACTIONS]
        for op in ops:
            if op.action not in WRITE_ACTIONS:
                self._settle(op)
        if self.dry_run:
            for op in writes:
                self._settle(op, tokens=0)
            return
        self.hook.connect()
        for op, result in run_concurrently(self._write, writes, max_workers=self.max_workers):
            self._outcome(op, result)

    def _repair_identity(self, kind: RecordKind) -> None:
        listing = list_identity(self.hook, self.resolved, kind)
        self._count_requests(max(listing.pages, 1))
        self.listed[kind] = listing
        stale = set(self.identity[kind]) - set(listing.identity)
        if stale:
            log.info("%d %s key(s) of the identity map are gone from Pipedrive", len(stale), kind)
        self.identity[kind] = dict(listing.identity)
        for key in stale:
            self.pushed[kind].pop(key, None)

    def _inputs(self, kind: RecordKind) -> PlanInputs:
        listing = self.listed[kind]
        listed_known = listing.known if listing is not None else {}
        if self.mode == "reconcile":
            known = {**self.pushed[kind], **listed_known}
        else:
            known = {**listed_known, **self.pushed[kind]}
        org_ids: dict[str, int | str] = dict(self.identity["organization"])
        if self.dry_run:  # organizations this plan would create
            for op in self.ops:
                if op.kind == "organization" and op.action == "create":
                    org_ids[op.key] = f"(new organization {op.key})"
        return PlanInputs(
            identity=self.identity[kind],
            known=known,
            conflicts=listing.conflicts if listing is not None else {},
            org_ids=org_ids,
            inactive_policy=self.resolved.inactive_policy,
            org_conflicts=self._org_conflicts() if kind == "person" else {},
        )

    def _org_conflicts(self) -> dict[str, list[int]]:
        listing = self.listed["organization"]
        return dict(listing.conflicts) if listing is not None else {}

    # -- writing ---------------------------------------------------------------------------------------------
    def _write(self, op: PlannedOp) -> dict[str, Any]:
        """One create or PATCH, journalled the moment it succeeded (runs on the hook's worker threads)."""
        assert op.row is not None
        changed = op.changed_values()
        values = {k: v for k, v in changed.items() if k != ORG_ID}
        if op.action == "create":
            body = self.resolved.to_payload(op.kind, {k: v for k, v in values.items() if not is_empty(v)})
        else:
            body = self.resolved.to_payload(op.kind, values)
        if ORG_ID in changed:
            body[ORG_ID] = changed[ORG_ID]
        try:
            if op.action == "create":
                record = self.hook.create(op.kind, body)
            else:
                assert op.pipedrive_id is not None
                record = self.hook.patch(op.kind, op.pipedrive_id, body)
        except BudgetExhausted:
            raise  # refused before it was sent
        except Exception:
            self._count_requests(1)
            raise
        self._count_requests(1)
        org_id = self.identity["organization"].get(op.row.org_key or "") if op.kind == "person" else None
        desired = desired_values(op.row, org_id)
        self.journal.append(
            JournalEntry(
                self.run_id, op.kind, op.key, op.action, int(record["id"]), op.row.content_hash, desired
            )
        )
        return record

    def _outcome(self, op: PlannedOp, result: dict[str, Any] | Exception) -> None:
        assert op.row is not None
        if not isinstance(result, Exception):
            pipedrive_id = int(result["id"])
            with self._lock:
                self.identity[op.kind][op.key] = pipedrive_id
                org_id = (
                    self.identity["organization"].get(op.row.org_key or "") if op.kind == "person" else None
                )
                self.pushed[op.kind][op.key] = Known(desired_values(op.row, org_id), op.row.content_hash)
            self._settle(op.but(op.action, op.reason, pipedrive_id))
            return
        if isinstance(result, BudgetExhausted):  # Remedy.DEFER: the next run takes the rest
            self._budget_exhausted(op.kind, result)
            self._settle(op.but("deferred", self._stopped_reason()), tokens=0)
            return
        if stops_run(result):  # every further write would fail the same way: the task must fail
            self.stop_error = self.stop_error or result
        if isinstance(result, ApiError) and result.status == 404 and op.action == "update":
            # Deleted in Pipedrive: forget it, so the next run lists and re-creates it.
            with self._lock:
                self.identity[op.kind].pop(op.key, None)
                self.pushed[op.kind].pop(op.key, None)
                self.forgotten[op.kind].add(op.key)
        self._settle(op.but("failed", _failure(result)), tokens=0)

    def _settle(self, op: PlannedOp, tokens: int | None = None) -> None:
        """Record a final decision: ledger row, log line, summary count, plan row."""
        if op.action == "unchanged" and (op.kind, op.key) in self.resumed_keys:
            return  # already recorded as written by the earlier attempt
        cost = (
            tokens
            if tokens is not None
            else (write_cost(op.kind, op.action) if op.action in WRITE_ACTIONS else 0)
        )
        self.audit.record(
            op.kind,
            op.key,
            op.action,
            pipedrive_id=op.pipedrive_id,
            fields=op.fields_changed,
            reason=op.reason,
            tokens=cost,
        )
        self.summary.count(op.kind, op.action)
        with self._lock:
            self.ops.append(op)

    def _carry_all(self, kind: RecordKind, rows: Iterable[Row], reason: str) -> None:
        for row in rows:
            self._settle(
                PlannedOp(kind, row.key, "deferred", self.identity[kind].get(row.key), reason=reason, row=row)
            )

    def _budget_exhausted(self, kind: RecordKind, exc: BudgetExhausted) -> None:
        with self._lock:
            first = self.budget_error is None
            self.budget_error = self.budget_error or exc
        if first:
            self.summary.budget_exhausted = True
            self.audit.record(kind, "", "budget_exhausted", reason=str(exc))

    def _stopped_reason(self) -> str:
        if self.stop_error is not None:
            return f"not written: the load stopped ({type(self.stop_error).__name__})"
        return "daily Pipedrive token budget exhausted: written first on the next run"

    def _count_requests(self, n: int) -> None:
        with self._lock:
            self._requests += n

    # -- the end ---------------------------------------------------------------------------------------------
    def _save_state(self) -> None:
        save_after_load(
            self.area,
            self.entity,
            identity=self.identity,
            pushed=self.pushed,
            listed={kind: self.listed[kind] is not None for kind in RECORD_KINDS},
            forgotten=self.forgotten,
            carried=(op for op in self.ops if op.action in CARRIED),
        )

    def _finish(self) -> None:
        self.summary.requests = self._requests
        self.summary.tokens_spent = self.hook.tokens_spent - self._tokens_before
        self.files.write_table("plan", plan_table(self.ops))
        self.audit.flush()
        self.files.write_document("summary", self.summary.to_json())
        log.info("load %s %s: %s", self.entity, self.run_id, self.summary)


def _failure(exc: Exception) -> str:
    """Why a write failed, without values: the API's message names fields, not their content."""
    if isinstance(exc, ApiError):
        return f"write failed ({type(exc).__name__}, HTTP {exc.status or '-'}): {exc.api_message}; retried next run"
    return f"write failed ({type(exc).__name__}); retried next run"
