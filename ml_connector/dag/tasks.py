"""What each task of a sync DAG does; the DAG factory only wires these together.

Every task re-reads its input from the staging area and replaces its output there, so any task can be
cleared and re-run by hand; nothing travels through XCom.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ml_connector.dag.context import RunContext
from ml_connector.http.errors import BudgetExhausted
from ml_connector.vocabulary import ENTITIES, RecordKind

if TYPE_CHECKING:
    from ml_connector.hooks.pipedrive import PipedriveHook

log = logging.getLogger("ml_connector.sync")


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


# -- the Pipedrive write lease --------------------------------------------------------------------------------
@contextmanager
def pipedrive_writer(ctx: RunContext, hook: PipedriveHook, task: str) -> Iterator[Callable[[], None]]:
    """Hold the write lease of the Pipedrive company ``hook`` writes to (:mod:`ml_connector.load.lease`);
    yields the check to make before each write. A dry run writes nothing and takes none."""
    if ctx.dry_run:
        yield lambda: None
        return
    from ml_connector.load import lease  # not at DAG parse time

    company = hook.company_id()

    def waiting(holder: lease.Holder | None, waited: float) -> None:
        who = holder.describe() if holder else "an unknown holder"
        log.info(
            "waiting for the Pipedrive write lease of company %s, held by %s (%.0f s so far)",
            company,
            who,
            waited,
        )

    what = f"{task} of run {ctx.run_id} of {ctx.dag_id}"
    with lease.lease(
        ctx.area, f"pipedrive-company-{company}", what, wait=lease.LEASE_WAIT, on_wait=waiting
    ) as held:
        log.info("holding the Pipedrive write lease of company %s (epoch %s)", company, held.epoch)
        yield held.check


# -- validate_field_definitions ---------------------------------------------------------------------------
def validate_fields(ctx: RunContext) -> None:
    """Resolve the mapping's custom fields to Pipedrive keys (creating what is allowed) before any write."""
    from ml_connector.fields import validate_field_definitions
    from ml_connector.hooks.pipedrive import PipedriveHook

    hook = PipedriveHook(ctx.pipedrive_conn_id)
    try:
        with pipedrive_writer(ctx, hook, "validate_field_definitions"):
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
    from ml_connector.fields import fields_for_load
    from ml_connector.hooks.pipedrive import PipedriveHook
    from ml_connector.load.inputs import TRANSFORMED
    from ml_connector.load.run import run_load

    tables = {kind: ctx.files.read_table(table) for kind, table in TRANSFORMED.items()}
    with ExitStack() as stack:
        hook = PipedriveHook(ctx.pipedrive_conn_id)
        stack.callback(hook.close)
        try:
            check = stack.enter_context(pipedrive_writer(ctx, hook, "load"))
            staged = ctx.files.read_document("fields")
            resolved = fields_for_load(hook, ctx.mapping, ctx.area, staged, tables, dry_run=ctx.dry_run)
        except BudgetExhausted as exc:
            return defer_whole_run(ctx, tables, exc)
        summary = run_load(
            hook,
            ctx.area,
            dag_id=ctx.dag_id,
            run_id=ctx.run_id,
            entity=ctx.entity,
            resolved=resolved,
            mode=ctx.mode,
            dry_run=ctx.dry_run,
            check_lease=check,
            repair_duplicates=ctx.repair_duplicates,
        )
        log.info("load finished: %s (%s)", summary, hook.log_usage())


def defer_whole_run(ctx: RunContext, tables: Mapping[RecordKind, pa.Table], exc: BudgetExhausted) -> None:
    """The budget ran out before anything could be planned: write nothing, keep the watermark where it is
    (so the next run reads this window again) and end the task successfully."""
    from ml_connector.audit import AuditTrail, defer_run

    trail = AuditTrail(ctx.area, dag_id=ctx.dag_id, run_id=ctx.run_id, entity=ctx.entity, dry_run=ctx.dry_run)
    read = {kind: table.num_rows for kind, table in tables.items()}
    summary = defer_run(trail, mode=ctx.mode, read=read, reason="daily token budget at its reserve")
    ctx.files.write_document("summary", summary.to_json())
    log.warning("%s", exc)


# -- report ----------------------------------------------------------------------------------------------------
def report(ctx: RunContext) -> dict[str, Any]:
    """Log the run's figures, advance the watermark, clean staging past its retention; then fail the task
    when records failed to write or too many were rejected (:func:`ml_connector.audit.shortfall`)."""
    from ml_connector.audit import LoadSummary, RunIncomplete, shortfall

    summary = ctx.files.read_document("summary")
    if summary is None:
        raise FileNotFoundError("the load left no summary: clear and re-run the load task")
    meta = ctx.files.read_document("extract", default={}) or {}
    figures = {"dag_id": ctx.dag_id, "run_id": ctx.run_id, "window": meta.get("window"), **summary}
    log.info("run summary %s", json.dumps(figures, sort_keys=True, default=str))
    if not ctx.dry_run and not summary.get("deferred_run") and meta.get("window"):
        ctx.advance_watermark(meta["window"])
    removed = ctx.area.cleanup(timedelta(days=ctx.mapping.retention_days))
    if removed:
        log.info("removed %d staged runs older than %d days", len(removed), ctx.mapping.retention_days)
    plan = ctx.files.read_table("plan").to_pylist() if ctx.files.has_table("plan") else []
    rejects = ctx.files.read_table("rejected").to_pylist() if ctx.files.has_table("rejected") else []
    problem = shortfall(
        LoadSummary.model_validate(summary),
        failed_keys=[str(row["key"]) for row in plan if row["action"] == "failed"],
        invalid_rejects=sum(1 for r in rejects if r.get("field") != "organization"),
        max_rejected_share=ctx.mapping.max_rejected_share,
    )
    if problem:
        raise RunIncomplete(problem)
    return figures
