"""What each task of a sync DAG does; the DAG factory only wires these together.

Every task re-reads its input from the staging area and replaces its output there, so any task can be
cleared and re-run by hand; nothing travels through XCom.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from ml_connector.audit.trail import AuditTrail
from ml_connector.dag.context import RunContext
from ml_connector.http.errors import BudgetExhausted
from ml_connector.vocabulary import ENTITIES

if TYPE_CHECKING:
    from ml_connector.audit.summary import LoadSummary
    from ml_connector.dag.assets import AssetUpdate
    from ml_connector.hooks.pipedrive import PipedriveHook

log = logging.getLogger("ml_connector.sync")


# -- every task: its ledger rows -------------------------------------------------------------------------
class TaskAudit:
    """The audit of one task attempt: its trail, and the Pipedrive hooks whose spend it reports."""

    def __init__(self, trail: AuditTrail) -> None:
        self.trail = trail
        self.hooks: list[PipedriveHook] = []
        self.started = datetime.now(UTC)

    def spending(self, hook: PipedriveHook) -> PipedriveHook:
        self.hooks.append(hook)
        return hook

    def finish(self, action: str, reason: str = "") -> None:
        """One ``task`` row (how it ended, the tokens it spent, the budget left), then the task's file."""
        usages = [u for u in (hook.usage() for hook in self.hooks) if u is not None]
        self.trail.task(
            action,
            tokens=sum(u[0] for u in usages),
            daily_tokens_left=min((u[1] for u in usages), default=None),
            daily_budget=max((u[2] for u in usages), default=None),
            reason=reason,
            started=self.started,
        )
        self.trail.flush()
        if self.trail.folded:  # the rows it replaces were compacted: take them out of the month files
            drop_folded_rows(self.trail)


def drop_folded_rows(trail: AuditTrail) -> None:
    """A task retried after its run's ledger files were compacted has written its rows anew: remove the
    earlier ones from the monthly files, under the ledger's lease (compaction rewrites them too)."""
    from ml_connector.audit import ledger
    from ml_connector.load import lease

    assert trail.run_started is not None
    with lease.lease(trail.area, f"ledger-{trail.entity}", f"retry of {trail.task_id} of {trail.run_id}"):
        ledger.drop_folded(trail.area, trail.entity, trail.run_id, trail.task_id, trail.run_started)


@contextmanager
def audited(ctx: RunContext) -> Iterator[TaskAudit]:
    """Run a task's body with its rate-limit incidents and token refreshes recorded as ledger rows, and
    one row for the task itself, written also when the body fails (then with the error)."""
    audit = TaskAudit(ctx.trail())
    with audit.trail.listening():
        try:
            yield audit
        except BaseException as exc:
            try:
                audit.finish("failed", reason=f"{type(exc).__name__}: {exc}"[:2000])
            except Exception:  # the task's own error is what Airflow, its retry policy and alerts need
                log.exception("could not write the ledger rows of this failed task")
            raise
        audit.finish("success")


# -- refresh_tokens ----------------------------------------------------------------------------------------
def refresh_tokens(ctx: RunContext) -> None:
    """Make both credentials valid now, so a dead refresh token fails the run before any work."""
    from ml_connector.hooks.pipedrive import PipedriveHook
    from ml_connector.hooks.workday import WorkdayHook

    with audited(ctx) as audit:
        pipedrive = audit.spending(PipedriveHook(ctx.pipedrive_conn_id))
        for hook in (WorkdayHook(ctx.workday_conn_id), pipedrive):
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

    with audited(ctx) as audit:
        hook = audit.spending(PipedriveHook(ctx.pipedrive_conn_id))
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
    with audited(ctx):
        try:
            extracted = read_window(hook, ctx.entity, window, ctx.files)
        finally:
            hook.close()
        ctx.files.write_document("extract", extracted.meta(window))
    log.info("extracted %d %s and %d contacts", extracted.records, ctx.entity, extracted.contacts)


# -- transform -----------------------------------------------------------------------------------------------
def transform(ctx: RunContext) -> None:
    """Map Workday records to Pipedrive rows; invalid records go to the rejected file, the rest go on."""
    from ml_connector.transform import ORGANIZATIONS_SCHEMA, PERSONS_SCHEMA, transform_into, with_unreadable

    with (
        audited(ctx),
        ctx.files.table_writer("transformed_organizations", ORGANIZATIONS_SCHEMA) as organizations,
        ctx.files.table_writer("transformed_persons", PERSONS_SCHEMA) as persons,
    ):
        aliases = ctx.state.read_org_aliases()
        result = transform_into(
            ctx.mapping,
            ctx.files.iter_batches("extracted_organizations"),
            ctx.files.iter_batches("extracted_contacts"),
            aliases,
            organizations.write_table,
            persons.write_table,
        )
        unreadable = (ctx.files.read_document("extract", default={}) or {}).get("unreadable") or []
        ctx.files.write_table("rejected", with_unreadable(result.rejected, unreadable))
        if ENTITIES[ctx.entity].keys_by_alias and not ctx.dry_run and result.org_aliases != aliases:
            ctx.state.write_org_aliases(result.org_aliases)
        log.info(
            "transformed %d organizations, %d persons; %d rejected",
            result.organizations,
            result.persons,
            result.rejected.num_rows,
        )


# -- load ------------------------------------------------------------------------------------------------------
def load(ctx: RunContext) -> list[AssetUpdate]:
    """Write the changes to Pipedrive (or only the plan, on a dry run); budget exhaustion defers, not fails.
    Returns the Airflow Asset events of what was written (:mod:`ml_connector.dag.assets`)."""
    from ml_connector.dag.assets import load_updates
    from ml_connector.fields import fields_for_load
    from ml_connector.hooks.pipedrive import PipedriveHook
    from ml_connector.load.inputs import TRANSFORMED
    from ml_connector.load.run import run_load

    with audited(ctx) as audit, ExitStack() as stack:
        values = {
            kind: partial(ctx.files.iter_batches, table, columns=["values"])
            for kind, table in TRANSFORMED.items()
        }
        hook = audit.spending(PipedriveHook(ctx.pipedrive_conn_id))
        stack.callback(hook.close)
        try:
            check = stack.enter_context(pipedrive_writer(ctx, hook, "load"))
            staged = ctx.files.read_document("fields")
            resolved = fields_for_load(hook, ctx.mapping, ctx.area, staged, values, dry_run=ctx.dry_run)
        except BudgetExhausted as exc:
            defer_whole_run(ctx, audit.trail, exc)
            return []
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
            trail=audit.trail,
        )
        log.info("load finished: %s (%s)", summary, hook.log_usage())
        return load_updates(summary, hook.company_host)


def defer_whole_run(ctx: RunContext, trail: AuditTrail, exc: BudgetExhausted) -> None:
    """The budget ran out before anything could be planned: write nothing, keep the watermark where it is
    (so the next run reads this window again) and end the task successfully."""
    from ml_connector.audit import defer_run
    from ml_connector.load.inputs import TRANSFORMED

    read = {kind: ctx.files.count_rows(table) for kind, table in TRANSFORMED.items()}
    summary = defer_run(trail, mode=ctx.mode, read=read, reason="daily token budget at its reserve")
    ctx.files.write_document("summary", summary.to_json())
    log.warning("%s", exc)


# -- report ----------------------------------------------------------------------------------------------------
def report(ctx: RunContext) -> dict[str, Any]:
    """Log the run's figures as a table, write the run's ledger row, advance the watermark, clean staging
    past its retention and compact the ledger; then fail the task when records failed to write or too
    many were rejected (:func:`ml_connector.audit.shortfall`)."""
    import pyarrow.compute as pc

    from ml_connector.audit import LoadSummary, RunIncomplete, shortfall
    from ml_connector.audit.summary import summary_table

    with audited(ctx) as audit:
        summary = ctx.files.read_document("summary")
        if summary is None:
            raise FileNotFoundError("the load left no summary: clear and re-run the load task")
        meta = ctx.files.read_document("extract", default={}) or {}
        figures = {"dag_id": ctx.dag_id, "run_id": ctx.run_id, "window": meta.get("window"), **summary}
        loaded = LoadSummary.model_validate(summary)
        log.info("run summary %s", json.dumps(figures, sort_keys=True, default=str))
        log.info("run summary of %s:\n%s", ctx.run_id, summary_table(loaded))
        if not ctx.dry_run and not summary.get("deferred_run") and meta.get("window"):
            ctx.advance_watermark(meta["window"])
        removed = ctx.area.cleanup(timedelta(days=ctx.mapping.retention_days))
        if removed:
            log.info("removed %d staged runs older than %d days", len(removed), ctx.mapping.retention_days)
        # Only the failed and conflict rows of the plan matter here (a plan may hold a million rows).
        plan = (
            ctx.files.read_rows("plan", pc.field("action").isin(["failed", "conflict"])).to_pylist()
            if ctx.files.has_table("plan")
            else []
        )
        invalid_rejects = (
            ctx.files.read_rows("rejected", ~pc.field("field").isin(["organization"])).num_rows
            if ctx.files.has_table("rejected")
            else 0
        )
        problem = shortfall(
            loaded,
            failed_keys=[str(row["key"]) for row in plan if row["action"] == "failed"],
            invalid_rejects=invalid_rejects,
            max_rejected_share=ctx.mapping.max_rejected_share,
        )
        run_row = record_run(ctx, audit.trail, loaded, meta.get("window"), problem)
        housekeeping("alerts", partial(alert_run, ctx, summary, plan, run_row))
        housekeeping("ledger compaction", partial(compact_ledger, ctx))
        if problem:
            raise RunIncomplete(problem)
    return figures


def housekeeping(what: str, step: Callable[[], None]) -> None:
    """Alerts and compaction must not turn the run's outcome into their own: a failure is logged."""
    try:
        step()
    except Exception:
        log.exception("%s failed in the report; the run's outcome stands", what)


def record_run(
    ctx: RunContext, trail: AuditTrail, summary: LoadSummary, window: Any, problem: str | None
) -> dict[str, Any]:
    """The run's ledger row: its window, mode, counts, requests, the tokens all its tasks spent (their
    ``task`` rows), the daily tokens left and how long it took."""
    from ml_connector.audit import ledger

    rows = ledger.run_rows(ctx.area, ctx.entity, ctx.run_id)
    rows += ledger.folded_rows(ctx.area, ctx.entity, ctx.run_id, None, ctx.run_after)
    tasks = [r for r in rows if r["kind"] == "task"]
    latest: dict[str, dict[str, Any]] = {}
    for row in sorted(tasks, key=lambda r: r["ts"]):
        latest[f"{row['task_id']}:{row['try_number']}"] = row
    budgets = [r for r in latest.values() if r["daily_budget"] is not None]
    last = max(budgets, key=lambda r: r["ts"]) if budgets else None
    started = min(
        (json.loads(r["details"] or "{}").get("started") or r["ts"].isoformat() for r in tasks), default=None
    )
    duration = (datetime.now(UTC) - datetime.fromisoformat(started)).total_seconds() if started else None
    action = "deferred" if summary.deferred_run else ("incomplete" if problem else "success")
    return trail.run(
        action,
        tokens=sum(int(r["tokens"] or 0) for r in latest.values()),
        daily_tokens_left=last["daily_tokens_left"] if last else None,
        daily_budget=last["daily_budget"] if last else None,
        reason=problem
        or (
            "the daily Pipedrive token budget was at its reserve: nothing was written, the next run reads "
            "this window again"
            if summary.deferred_run
            else ""
        ),
        details={
            "window": window,
            "mode": summary.mode,
            "organizations": summary.organizations.model_dump(),
            "persons": summary.persons.model_dump(),
            "requests": summary.requests,
            "load_tokens": summary.tokens_spent,
            "budget_exhausted": summary.budget_exhausted,
            "resumed": summary.resumed,
            "duration_s": round(duration, 1) if duration is not None else None,
        },
    )


def alert_run(
    ctx: RunContext, summary: dict[str, Any], plan: list[dict[str, Any]], run_row: dict[str, Any]
) -> None:
    """The report's own alerts (:func:`ml_connector.alerts.run_alerts`): conflicts the last report did not
    see, a deferred run, the day's Pipedrive tokens (both DAGs) crossing the alert share of the budget."""
    import pyarrow.compute as pc

    from ml_connector.alerts import RunFigures, run_alerts
    from ml_connector.alerts.send import send_alerts
    from ml_connector.audit import ledger

    conflicts = {str(row["key"]) for row in plan if row["action"] == "conflict"}
    new: set[str] = set()
    if not ctx.dry_run:  # a dry run's conflicts are the next real run's to announce
        new = conflicts - ctx.state.read_conflicts(ctx.entity)
        ctx.state.write_conflicts(ctx.entity, conflicts)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = ledger.read_ledger(ctx.area, since=today, where=pc.field("kind") == "task")
    spent_today = int(rows["tokens"].fillna(0).sum())
    # Crossed today and not yet told today (by either DAG): also a crossing by a run that never reported.
    told = ctx.state.read_token_alert_day() == today.date()
    figures = RunFigures(
        dag_id=ctx.dag_id,
        run_id=ctx.run_id,
        entity=ctx.entity,
        summary=summary,
        new_conflict_keys=sorted(new),
        tokens_today_before=spent_today if told else 0,
        tokens_today_after=spent_today,
        daily_budget=run_row["daily_budget"],
        link=run_link(ctx),
    )
    sent = set(ctx.files.read_document("alerts_sent", default=[]) or [])
    alerts = [a for a in run_alerts(figures, ctx.mapping.alerts) if a.cause not in sent]
    for problem in send_alerts(ctx.mapping.alerts, alerts):
        log.error("alert not delivered: %s", problem)
    ctx.files.write_document("alerts_sent", sorted(sent | {a.cause for a in alerts}))
    if any(a.cause == "token_share" for a in alerts):
        ctx.state.write_token_alert_day(today.date())


def run_link(ctx: RunContext) -> str | None:
    """The run's page in the Airflow UI, when Airflow's ``[api] base_url`` says where that is."""
    from urllib.parse import quote

    from airflow.configuration import conf

    base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    return f"{base}/dags/{quote(ctx.dag_id)}/runs/{quote(ctx.run_id, safe='')}" if base else None


def compact_ledger(ctx: RunContext) -> None:
    """Keep the ledger's file count bounded: fold older days into monthly files, drop rows past retention.
    Under the ledger's own lease, so two reports never fold the same month at once; a busy lease (or
    storage that cannot hold one) only postpones it to the next run."""
    from ml_connector.audit import ledger
    from ml_connector.errors import ConnectorError
    from ml_connector.load import lease

    try:
        with lease.lease(
            ctx.area, f"ledger-{ctx.entity}", f"report of run {ctx.run_id}", wait=timedelta(seconds=30)
        ):
            ledger.compact(
                ctx.area,
                ctx.entity,
                retention_days=ctx.mapping.ledger_retention_days,
            )
    except ConnectorError as exc:
        log.warning("ledger compaction postponed to the next run: %s", exc)
