"""The load's orchestration: one kind after the other, each read, repaired, planned, written, recorded."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ml_connector.audit import AuditTrail, LoadSummary
from ml_connector.errors import stops_run
from ml_connector.fields import ResolvedFields
from ml_connector.http.errors import ApiError, BudgetExhausted
from ml_connector.load.execute import Writer, failure_reason, lost_create, outcome
from ml_connector.load.identity import Listing, list_identity
from ml_connector.load.inputs import KindRows, read_inputs
from ml_connector.load.known import KnownState
from ml_connector.load.lease import LeaseLost
from ml_connector.load.plan import WRITE_ACTIONS, PlanInputs, PlannedOp, Row, duplicate_reason, plan_records
from ml_connector.load.record import LoadRecord
from ml_connector.load.state import Journal
from ml_connector.staging.area import StagingArea
from ml_connector.staging.files import RunFiles, StateFiles
from ml_connector.vocabulary import ENTITIES, MODES, RECORD_KINDS, Mode, RecordKind

if TYPE_CHECKING:
    from ml_connector.hooks.pipedrive import PipedriveHook

log = logging.getLogger(__name__)

# Records planned and written at a time: their decisions (field-level changes and all) are settled into
# the plan and the ledger before the next batch is planned, so a kind's ops are never all held at once.
PLAN_BATCH_ROWS = 5_000
# Looking up creates whose answer was lost: Pipedrive's update times are its own clock's, so the listing
# starts this long before the load did.
CLOCK_SLACK = timedelta(minutes=5)


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
    max_workers: int | None = None,
    check_lease: Callable[[], None] = lambda: None,
    repair_duplicates: bool = False,
    trail: AuditTrail | None = None,
) -> LoadSummary:
    """Load the run's ``transformed_*`` tables (and the rows carried over) into Pipedrive.

    Writes staging steps ``plan`` (Parquet) and ``summary`` (JSON) and the run's ledger; with
    ``dry_run`` it sends no write and changes no state. ``check_lease`` is called before every write and
    raises when this load may no longer write (:meth:`ml_connector.load.lease.Lease.check`). Returns the
    summary; raises what stopped the writes (edge block, rejected credential, lost lease) or unreadable input.
    ``repair_duplicates`` (``reconcile`` only) merges the records that carry one Workday ID first.
    ``trail`` is the load task's audit trail (a new one for task ``load`` when not given).
    ``max_workers`` fixes how many writes are in flight; by default the load keeps the plan's burst
    window full at the latency it observes (:func:`ml_connector.load.execute.concurrency_for`).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if repair_duplicates and mode != "reconcile":
        raise ValueError("repair_duplicates needs mode reconcile, whose full listing finds the duplicates")
    if entity not in ENTITIES:
        raise ValueError(f"entity must be 'customers' or 'suppliers', not {entity!r}")
    files = RunFiles(area, dag_id, run_id)
    journal = Journal(area, entity, run_id)
    trail = trail or AuditTrail(area, dag_id=dag_id, run_id=run_id, entity=entity, dry_run=dry_run)
    record = LoadRecord(
        trail, LoadSummary(dag_id=dag_id, run_id=run_id, entity=entity, mode=mode, dry_run=dry_run)
    )
    tokens_before = hook.tokens_spent

    inputs = read_inputs(area, files, entity, resolved)
    record.rejected(inputs.rejected)
    known = KnownState.read(area, entity)
    entries, journal_files = journal.pending()
    known.replay(entries)
    if not dry_run:
        record.written_earlier(trail.earlier_writes())
        record.replayed(entries, run_id)
    if journal_files:
        record.summary.resumed = True
        log.info(
            "resuming: %d journalled write(s) from %d unfinished load(s)", len(entries), len(journal_files)
        )

    load = _KindLoad(
        hook,
        resolved,
        mode,
        dry_run,
        max_workers,
        known,
        record,
        Writer(hook, resolved, journal, known, run_id, check_lease, pace=hook.write_pace),
        StateFiles(area),
        repair_duplicates,
    )
    for kind in RECORD_KINDS:
        record.read(kind, inputs.rows[kind].count)
        load.run(kind, inputs.rows[kind], resumed=bool(journal_files))

    if isinstance(record.stop_error, LeaseLost):
        # Another load may be writing now: leave everything as a killed load would. The journal holds
        # every write this one made; the next attempt replays it and records it once.
        log.error("the write lease was lost; state, ledger and journal are left for the next attempt")
        raise record.stop_error
    if not dry_run:
        known.save(area, entity, record.carried())
        for kind in load.checked:  # shared by both DAGs: the next check of either starts here
            load.state.write_duplicates_checked(kind, load.started)
    record.finish(files, requests=load.writer.requests, tokens_spent=hook.tokens_spent - tokens_before)
    if not dry_run:
        # Last: a kill before this point replays the journals again, which is harmless.
        journal.close(journal_files)
    if record.stop_error is not None:
        raise record.stop_error
    return record.summary


@dataclass
class _KindLoad:
    """One kind's load: repair the identity map if needed, plan, write, settle every outcome."""

    hook: PipedriveHook
    resolved: ResolvedFields
    mode: Mode
    dry_run: bool
    max_workers: int | None
    known: KnownState
    record: LoadRecord
    writer: Writer
    state: StateFiles
    repair_duplicates: bool = False
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    checked: set[RecordKind] = field(default_factory=set)  # kinds whose duplicate check is current

    def run(self, kind: RecordKind, rows: KindRows, *, resumed: bool) -> None:
        if self.record.stopped:
            self._carry_all(rows)
            return
        skip_inactive = self.resolved.inactive_policy == "skip"
        if rows.count and self.known.must_list(
            kind, rows.keys_active(), mode=self.mode, resumed=resumed, skip_inactive=skip_inactive
        ):
            try:
                listing = list_identity(self.hook, self.resolved, kind)
            except BudgetExhausted as exc:
                self.record.budget_exhausted(kind, exc)
                self._carry_all(rows)
                return
            self.writer.count_requests(max(listing.pages, 1))
            before = set(self.known.identity[kind])
            if self.repair_duplicates and listing.conflicts:
                self._merge_duplicates(kind, listing)
            for key, ids in sorted(listing.conflicts.items()):
                log.error("duplicate in Pipedrive: %s", duplicate_reason(kind, key, ids))
            self.known.take_listing(kind, listing)
            self.checked.add(kind)
            if resumed:  # an interrupted attempt may have written records its journal never got to hold
                found = {key: listing.identity[key] for key in set(listing.identity) - before}
                self.record.adopted(
                    kind,
                    found,
                    "found in Pipedrive by listing, not in the state: written by an interrupted attempt after "
                    "its last journal entry, or by someone else",
                )
        else:
            self._check_duplicates(kind, rows)
        if not rows.count:
            return
        pending = self.record.pending_creates("organization") if self.dry_run else []
        inputs = self.known.plan_inputs(
            kind, mode=self.mode, inactive_policy=self.resolved.inactive_policy, pending_orgs=pending
        )
        lost: list[tuple[PlannedOp, Exception]] = []
        wrote = False
        for batch in rows.batches(PLAN_BATCH_ROWS):
            read = self.known.read_changed_values(kind, batch)
            if read:
                log.info("read the pushed values of %d changed %s(s) for their field-level diff", read, kind)
            wrote = self._plan_and_write(batch, inputs, lost) or wrote
        if wrote:
            log.info("%s writes: %s", kind, self.writer.sizing)
        if lost:
            self._resolve_lost(kind, lost)

    def _plan_and_write(
        self, rows: list[Row], inputs: PlanInputs, lost: list[tuple[PlannedOp, Exception]]
    ) -> bool:
        """Plan one batch of a kind and send its writes; creates whose answer was lost are added to
        ``lost``. Once the load has stopped (budget, an error a person must fix), writes are deferred.
        Returns whether anything was sent."""
        ops = plan_records(rows, inputs)
        writes = [op for op in ops if op.action in WRITE_ACTIONS]
        for op in ops:
            if op.action not in WRITE_ACTIONS:
                self.record.settle(op)
        if self.dry_run:
            for op in writes:
                self.record.settle(op, tokens=0)
            return False
        stopped = self.record.stop_error or self.record.budget_error
        if stopped is not None:
            for op in writes:
                self._settle(op, stopped)
            return False
        for op, result in self.writer.write_all(writes, max_workers=self.max_workers):
            if lost_create(op, result):
                assert isinstance(result, Exception)
                lost.append((op, result))
            else:
                self._settle(op, result)
        return bool(writes)

    def _merge_duplicates(self, kind: RecordKind, listing: Listing) -> None:
        """Merge the records that carry one Workday ID into the oldest (Pipedrive numbers records in the
        order they were made, so the lowest id); Pipedrive moves a merged organization's persons to it.
        Each merge is a ledger row; a dry run plans them. A key whose merges all succeeded (or would, on a
        dry run) is then planned like any other, against its surviving record."""
        for key, ids in sorted(listing.conflicts.items()):
            survivor, *others = sorted(ids)
            for other in others:
                reason = (
                    f"{'would merge' if self.dry_run else 'merged'} Pipedrive {kind} {other} into {survivor}, "
                    f"the oldest of the {len(ids)} carrying Workday ID {key}"
                )
                if self.dry_run:
                    self.record.settle(PlannedOp(kind, key, "merge", survivor, reason=reason), tokens=0)
                    continue
                try:
                    self.writer.merge(kind, other, survivor)
                except BudgetExhausted as exc:
                    self.record.budget_exhausted(kind, exc)
                    return
                except Exception as exc:
                    if stops_run(exc):
                        self.record.stop(exc)
                        return
                    failed = f"merging {kind} {other} into {survivor} failed: {failure_reason(exc)}"
                    self.record.settle(PlannedOp(kind, key, "failed", survivor, reason=failed), tokens=0)
                    break
                self.record.settle(PlannedOp(kind, key, "merge", survivor, reason=reason))
            else:
                del listing.conflicts[key]
                listing.identity[key] = survivor  # its values are not known: the plan compares every field

    def _carry_all(self, rows: KindRows) -> None:
        for batch in rows.batches(PLAN_BATCH_ROWS):
            self.record.carry_all(rows.kind, batch, self.known.identity[rows.kind])

    def _check_duplicates(self, kind: RecordKind, rows: KindRows) -> None:
        """Without a full listing, list what changed in Pipedrive since the last check (10 tokens per 500
        records): a Workday key under another id than the map's is a duplicate, reported as a conflict
        (ledger, summary, an error line) and never written to; a key the map lacks is adopted."""
        since = self.state.read_duplicates_checked(kind)
        if since is None:  # never checked: this load sets the mark, the next one checks from it
            self.checked.add(kind)
            return
        try:
            changes = list_identity(self.hook, self.resolved, kind, updated_since=since - CLOCK_SLACK)
        except ApiError as exc:  # checked from the same mark next time
            log.warning("could not check the %ss changed since %s for duplicates: %s", kind, since, exc)
            return
        self.writer.count_requests(max(changes.pages, 1))
        candidates, adopted = self.known.take_changes(kind, changes)
        try:
            live = {
                key: [i for i in ids if self.hook.get(kind, i) is not None] for key, ids in candidates.items()
            }
        except ApiError as exc:
            log.warning("could not confirm %d possible duplicate %s(s): %s", len(candidates), kind, exc)
            return
        self.writer.count_requests(sum(len(ids) for ids in candidates.values()))
        self.checked.add(kind)
        found = self.known.confirm_duplicates(kind, live)
        planned = {key for key, _ in rows.keys_active()}
        for key, ids in sorted(found.items()):
            reason = duplicate_reason(kind, key, ids)
            log.error("duplicate in Pipedrive: %s", reason)
            if key not in planned:  # a planned row of this key becomes a conflict in the plan itself
                self.record.settle(PlannedOp(kind, key, "conflict", reason=reason), tokens=0)
        self.record.adopted(
            kind, adopted, "a Pipedrive record carries this Workday ID and the identity map did not know it"
        )

    def _resolve_lost(self, kind: RecordKind, lost: list[tuple[PlannedOp, Exception]]) -> None:
        """Creates whose answer was lost are looked up once, in what changed in Pipedrive since the load
        began: one found is adopted, one not found is created now; only what stays unknown (the lookup
        failed, or the second create lost its answer too) waits for the next run."""
        if self.record.stopped:
            for op, exc in lost:
                self._settle(op, exc)
            return
        try:
            listing = list_identity(self.hook, self.resolved, kind, updated_since=self.started - CLOCK_SLACK)
        except ApiError as exc:  # the budget, or Pipedrive unreachable: the next run's listing finds them
            log.warning("could not look up %d %s create(s) whose answer was lost: %s", len(lost), kind, exc)
            for op, lost_exc in lost:
                self._settle(op, lost_exc)
            return
        self.writer.count_requests(max(listing.pages, 1))
        resend = []
        for op, _ in lost:
            if op.key in listing.identity:
                pipedrive_id = listing.identity[op.key]
                self.writer.journal_write(op, pipedrive_id)
                self.known.written(op, pipedrive_id)
                reason = "its answer was lost; found in Pipedrive by listing and adopted, not sent again"
                self.record.settle(op.but("create", reason, pipedrive_id))
            elif op.key in listing.conflicts:
                ids = ", ".join(str(i) for i in listing.conflicts[op.key])
                reason = (
                    f"its answer was lost and Pipedrive {kind}s {ids} now carry Workday ID {op.key}: merge them "
                    "in Pipedrive, or run reconcile with repair_duplicates"
                )
                self.record.settle(op.but("conflict", reason), tokens=0)
            else:
                resend.append(op)
        log.info(
            "%d %s create(s) with a lost answer: %d found and adopted, %d created again",
            len(lost),
            kind,
            len(lost) - len(resend),
            len(resend),
        )
        for op, result in self.writer.write_all(resend, max_workers=self.max_workers):
            self._settle(op, result)

    def _settle(self, op: PlannedOp, result: dict[str, Any] | Exception) -> None:
        decided = outcome(op, result, deferred_reason=self.record.stopped_reason())
        if decided.budget is not None:
            self.record.budget_exhausted(op.kind, decided.budget)
        if decided.stop is not None:
            self.record.stop(decided.stop)
        if decided.deleted:
            self.known.forget(op.kind, op.key)
        if decided.op.action in WRITE_ACTIONS:
            assert decided.op.pipedrive_id is not None
            self.known.written(op, decided.op.pipedrive_id)
            self.record.settle(decided.op)
        else:
            self.record.settle(decided.op, tokens=0)
