"""What each task of a sync DAG does; the DAG factory only wires these together.

Every task re-reads its input from the staging area and replaces its output there, so any task can be
cleared and re-run by hand; nothing travels through XCom.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from ml_connector.http.errors import BudgetExhausted
from ml_connector.mapping import SyncMapping
from ml_connector.staging import StagingArea
from ml_connector.stored import RunFiles, StateFiles
from ml_connector.vocabulary import ENTITIES, MODES, Entity, Mode, RecordKind
from ml_connector.window import UpdateWindow, next_watermark, resolve_window, run_kind
from ml_connector.write_lock import pipedrive_write_lock

log = logging.getLogger("ml_connector.sync")


@dataclass(frozen=True)
class RunContext:
    """One DAG run as the tasks see it: identity, params, data interval, mapping and staging."""

    dag_id: str
    run_id: str
    mapping: SyncMapping
    area: StagingArea
    mode: Mode
    dry_run: bool
    updated_from: str | None
    updated_to: str | None
    interval_start: datetime | None
    interval_end: datetime | None
    run_after: datetime
    run_type: str = "manual"
    workday_conn_id: str = "workday_default"
    pipedrive_conn_id: str = "pipedrive_default"

    @property
    def entity(self) -> Entity:
        return self.mapping.entity

    @classmethod
    def from_airflow(
        cls, mapping: SyncMapping, context: Mapping[str, Any], area: StagingArea | None = None
    ) -> RunContext:
        """Build from a task's context; a manual run may have no logical date, so nothing here requires one."""
        params = dict(context.get("params") or {})
        mode = str(params.get("mode") or "incremental")
        if mode not in MODES:
            raise ValueError(f"param mode must be one of {', '.join(MODES)}, got {mode!r}")
        dag_run = context["dag_run"]
        return cls(
            dag_id=context["dag"].dag_id,
            run_id=dag_run.run_id,
            mapping=mapping,
            area=area or StagingArea(),
            mode=mode,  # checked against MODES above
            dry_run=bool(params.get("dry_run", False)),
            updated_from=params.get("updated_from") or None,
            updated_to=params.get("updated_to") or None,
            interval_start=context.get("data_interval_start"),
            interval_end=context.get("data_interval_end"),
            run_after=dag_run.run_after or datetime.now(UTC),
            run_type=str(getattr(dag_run.run_type, "value", dag_run.run_type) or "manual"),
        )

    @property
    def files(self) -> RunFiles:
        """This run's hand-off files."""
        return RunFiles(self.area, self.dag_id, self.run_id)

    @property
    def state(self) -> StateFiles:
        return StateFiles(self.area)

    def watermark(self) -> datetime | None:
        """End of the window the last successful run covered without a gap before it."""
        return self.state.read_watermark(self.entity)

    def window(self) -> UpdateWindow:
        """This run's window under the rules in :mod:`ml_connector.window`."""
        return resolve_window(
            mode=self.mode,
            overlap=timedelta(minutes=self.mapping.overlap_minutes),
            now=self.run_after,
            kind=run_kind(self.run_type),
            interval_start=self.interval_start,
            interval_end=self.interval_end,
            updated_from=self.updated_from,
            updated_to=self.updated_to,
            watermark=self.watermark(),
        )


# -- refresh_tokens ----------------------------------------------------------------------------------------
def refresh_tokens(ctx: RunContext) -> None:
    """Make both credentials valid now, so a dead refresh token fails the run before any work."""
    from ml_connector.hooks.pipedrive import PipedriveHook
    from ml_connector.hooks.workday import WorkdayHook

    for hook in (WorkdayHook(ctx.workday_conn_id), PipedriveHook(ctx.pipedrive_conn_id)):
        try:
            log.info("%s", hook.refresh_credentials())
        except BudgetExhausted as exc:
            # Only the API-token check costs tokens; the load defers its work when the budget is this low.
            log.warning("credential check skipped: %s", exc)
        finally:
            hook.close()


# -- the Pipedrive write lock --------------------------------------------------------------------------------
@contextmanager
def pipedrive_writer(ctx: RunContext, task: str) -> Iterator[None]:
    """The run's Pipedrive connection's write lock (:mod:`ml_connector.write_lock`); a dry run writes
    nothing and takes none."""
    if ctx.dry_run:
        yield
        return
    with pipedrive_write_lock(ctx.pipedrive_conn_id, f"{task} of run {ctx.run_id} of {ctx.dag_id}"):
        yield


# -- validate_field_definitions ---------------------------------------------------------------------------
def validate_fields(ctx: RunContext) -> None:
    """Resolve the mapping's custom fields to Pipedrive keys (creating what is allowed) before any write."""
    from ml_connector.fields import validate_field_definitions
    from ml_connector.hooks.pipedrive import PipedriveHook

    hook = PipedriveHook(ctx.pipedrive_conn_id)
    try:
        with pipedrive_writer(ctx, "validate_field_definitions"):
            resolved = validate_field_definitions(hook, ctx.mapping, ctx.area, dry_run=ctx.dry_run)
        ctx.files.write_document("fields", resolved.to_json())
        log.info("field definitions resolved and pinned (%s)", hook.log_usage())
    except BudgetExhausted as exc:
        log.warning("field definitions not checked, the daily budget is at its reserve: %s", exc)
    finally:
        hook.close()


# -- extract ------------------------------------------------------------------------------------------------
def extract(ctx: RunContext) -> None:
    """Read this run's window of Workday records (and all contacts) into the staging area."""
    from ml_connector.extract import extract as read_window
    from ml_connector.hooks.workday import WorkdayHook

    window = ctx.window()
    log.info("extract window [%s, %s): %s", window.start, window.end, window.reason)
    hook = WorkdayHook(ctx.workday_conn_id)
    try:
        extracted = read_window(hook, ctx.entity, window)
    finally:
        hook.close()
    ctx.files.write_table("extracted_organizations", extracted.records)
    ctx.files.write_table("extracted_contacts", extracted.contacts)
    ctx.files.write_document("extract", extracted.meta(window))
    records, contacts = extracted.records, extracted.contacts
    log.info("extracted %d %s and %d contacts", records.num_rows, ctx.entity, contacts.num_rows)


# -- transform -----------------------------------------------------------------------------------------------
def transform(ctx: RunContext) -> None:
    """Map Workday records to Pipedrive rows; invalid records go to the rejected file, the rest go on."""
    from ml_connector.transform import transform as run_transform
    from ml_connector.transform import with_unreadable

    aliases = ctx.state.read_org_aliases()
    result = run_transform(
        ctx.mapping,
        ctx.files.read_table("extracted_organizations"),
        ctx.files.read_table("extracted_contacts"),
        aliases,
    )
    ctx.files.write_table("transformed_organizations", result.organizations)
    ctx.files.write_table("transformed_persons", result.persons)
    unreadable = (ctx.files.read_document("extract", default={}) or {}).get("unreadable") or []
    ctx.files.write_table("rejected", with_unreadable(result.rejected, unreadable))
    if ENTITIES[ctx.entity].keys_by_alias and not ctx.dry_run and result.org_aliases != aliases:
        ctx.state.write_org_aliases(result.org_aliases)
    log.info(
        "transformed %d organizations, %d persons; %d rejected",
        result.organizations.num_rows,
        result.persons.num_rows,
        result.rejected.num_rows,
    )


# -- load ------------------------------------------------------------------------------------------------------
def load(ctx: RunContext) -> None:
    """Write the changes to Pipedrive (or only the plan, on a dry run); budget exhaustion defers, not fails."""
    from ml_connector.fields import observed_options, staged_resolution, validate_field_definitions
    from ml_connector.hooks.pipedrive import PipedriveHook
    from ml_connector.load import run_load

    hook = PipedriveHook(ctx.pipedrive_conn_id)
    try:
        tables: dict[RecordKind, pa.Table] = {
            "organization": ctx.files.read_table("transformed_organizations"),
            "person": ctx.files.read_table("transformed_persons"),
        }
        with pipedrive_writer(ctx, "load"):
            observed = observed_options(ctx.mapping, tables)
            resolved = staged_resolution(ctx.files.read_document("fields"), observed)
            if resolved is None:  # new option labels in this run's data (or no staged resolution)
                try:
                    resolved = validate_field_definitions(
                        hook, ctx.mapping, ctx.area, observed, dry_run=ctx.dry_run
                    )
                except BudgetExhausted as exc:
                    defer_whole_run(ctx, tables, exc)
                    return
            summary = run_load(
                hook,
                ctx.area,
                dag_id=ctx.dag_id,
                run_id=ctx.run_id,
                entity=ctx.entity,
                resolved=resolved,
                mode=ctx.mode,
                dry_run=ctx.dry_run,
            )
        log.info("load finished: %s (%s)", summary, hook.log_usage())
    finally:
        hook.close()


def defer_whole_run(ctx: RunContext, tables: Mapping[RecordKind, pa.Table], exc: BudgetExhausted) -> None:
    """The budget ran out before anything could be planned: write nothing, keep the watermark where it is
    (so the next run reads this window again) and end the task successfully."""
    from ml_connector.audit import AuditTrail, defer_run

    trail = AuditTrail(ctx.area, dag_id=ctx.dag_id, run_id=ctx.run_id, entity=ctx.entity, dry_run=ctx.dry_run)
    read = {kind: table.num_rows for kind, table in tables.items()}
    summary = defer_run(trail, mode=ctx.mode, read=read, reason="daily token budget at its reserve")
    ctx.files.write_document("summary", summary.to_json())
    log.warning("%s", exc)


def advance_watermark(ctx: RunContext, window: Mapping[str, Any]) -> None:
    """Move the watermark to this run's window end when the window leaves no gap after the old one."""
    old = ctx.watermark()
    covered = UpdateWindow.from_json(dict(window))
    moved = next_watermark(old, covered)
    if moved is None:
        if covered.start is not None and (old is None or covered.start > old):
            log.warning(
                "watermark stays at %s: this run's window starts at %s, so it leaves a gap before it",
                old.isoformat() if old else "none (no initial full load yet)",
                covered.start.isoformat(),
            )
        return
    ctx.state.write_watermark(ctx.entity, moved, ctx.run_id)


# -- report ----------------------------------------------------------------------------------------------------
def report(ctx: RunContext) -> dict[str, Any]:
    """Log the run's figures, advance the watermark, and clean staging past its retention."""
    summary = ctx.files.read_document("summary")
    if summary is None:
        raise FileNotFoundError("the load left no summary: clear and re-run the load task")
    meta = ctx.files.read_document("extract", default={}) or {}
    figures = {"dag_id": ctx.dag_id, "run_id": ctx.run_id, "window": meta.get("window"), **summary}
    log.info("run summary %s", json.dumps(figures, sort_keys=True, default=str))
    if not ctx.dry_run and not summary.get("deferred_run") and meta.get("window"):
        advance_watermark(ctx, meta["window"])
    removed = ctx.area.cleanup(timedelta(days=ctx.mapping.retention_days))
    if removed:
        log.info("removed %d staged runs older than %d days", len(removed), ctx.mapping.retention_days)
    return figures
