"""Builds one sync DAG per entity from its mapping file; ``dags/*.py`` only call :func:`build_sync_dag`.

Parse-time work is reading and validating the mapping file, nothing else: no API call, no staging I/O.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, CronDataIntervalTimetable, Param, get_current_context, task
from airflow.sdk.definitions.retry_policy import RetryDecision, RetryPolicy

from ml_connector.alerts.notifiers import failure_callbacks
from ml_connector.dag import tasks
from ml_connector.dag.assets import load_alias
from ml_connector.dag.context import RunContext
from ml_connector.errors import Remedy, remedy_of
from ml_connector.mapping import MappingError, SyncMapping, load_mapping
from ml_connector.vocabulary import ENTITIES, MODES

START_DATE = datetime(2026, 1, 1, tzinfo=UTC)
MAPPINGS_ENV = "ML_CONNECTOR_MAPPINGS_DIR"
PACKAGED_MAPPINGS = Path(__file__).resolve().parent.parent / "mappings"  # the defaults, shipped in the wheel

DOC = """
### Workday {entity} → Pipedrive

Keeps Pipedrive organizations and persons aligned with Workday {entity} and their contacts, one way.

**Tasks**: `refresh_tokens` (credentials valid before any work) → `validate_field_definitions` (custom
fields resolved to Pipedrive keys, created when allowed, pinned) → `extract` (Workday records of the run's
window, all contacts) → `transform` (mapping `{mapping_file}`; invalid records to the rejected file) →
`load` (only changed records written; PATCH only changed fields; no duplicates) → `report`.

**Window**: the first run that finds no watermark (the entity was never synced) is an initial full load
of every Workday record. After that, a scheduled run extracts its data interval minus {overlap} minutes
of overlap (from the watermark when an earlier interval is missing); a backfill run
(`airflow backfill create --dag-id {dag_id} --from-date ... --to-date ...`) extracts exactly its own
interval; a manual run in `incremental` mode reads from the last successful watermark to now, whatever
logical date the trigger form shows. {no_filter}

**Trigger params**: `mode` = `incremental` | `full_refresh` | `reconcile` (compare every mapped record with
Pipedrive, correct drift and report duplicates as conflicts), `dry_run` (write the plan, call no Pipedrive write endpoint),
optional `updated_from` / `updated_to` (ISO datetimes).

**Retries**: every task can be cleared and re-run by hand; it re-reads its staged input and replaces its
output. A load that died half-way resumes without duplicates. When the Pipedrive daily budget runs low the
rest is deferred to the next run and the task still succeeds.

**Assets**: a load that wrote records updates `pipedrive://<host>/organizations` and/or `.../persons`
(through the alias `{dag_id}.pipedrive`; the event's extra holds the entity, run and counts), so other DAGs
can be scheduled on them. A dry run emits nothing.

**Concurrency**: one run at a time per DAG; the Pipedrive-writing tasks of both DAGs take a write lease
per Pipedrive company, so they never write at the same time. Pools: {pools}.

**Run summary**: the `report` task logs each run's counts as this table (and writes them to the ledger):

{summary_table}

*read*: records of the run plus rows carried over; *conflicts*: two Pipedrive records carry one Workday
ID (never written; merge them, or run `reconcile` with `repair_duplicates`); *deferred*: left for the next
run (budget); *failed*: carried over, the run is red. **Audit**: the *Workday → Pipedrive* page in the
navigation, or `ml-connector audit record <Workday ID>` / `audit run --last --dag {dag_id}` /
`audit usage --days 30`. Alerts: the mapping file's `alerts:` section ({alerts}).
"""


def mapping_candidates(entity: str, dag_file: str | Path | None = None) -> list[Path]:
    """Where the mapping file of ``entity`` may be, in the order they are tried.

    ``$ML_CONNECTOR_MAPPINGS_DIR``; then ``include/mappings/`` of the Airflow project the DAG file lives in
    (``include/`` beside the DAG folder, the Astronomer layout, also when the DAG file sits in a subfolder
    of ``dags/``); then the defaults shipped inside this package.
    """
    name = f"{entity}.yaml"
    folders: list[Path] = []
    if configured := os.environ.get(MAPPINGS_ENV, "").strip():
        folders.append(Path(configured).expanduser())
    if dag_file is not None:
        dag_dir = Path(dag_file).resolve().parent
        projects = [dag_dir.parent] + [folder.parent for folder in dag_dir.parents if folder.name == "dags"]
        folders += [project / "include" / "mappings" for project in projects]
    folders.append(PACKAGED_MAPPINGS)
    return list(dict.fromkeys(folder / name for folder in folders))


def mapping_path(entity: str, dag_file: str | Path | None = None) -> Path:
    """The first existing file of :func:`mapping_candidates`; the error names every place it looked."""
    candidates = mapping_candidates(entity, dag_file)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise MappingNotFound(entity, candidates)


class MappingNotFound(MappingError):
    """No mapping file for an entity in any of the places searched; the message lists them."""

    def __init__(self, entity: str, candidates: list[Path]) -> None:
        looked = "\n  ".join(str(c) for c in candidates)
        problem = (
            f"no {entity}.yaml found; looked in, in order:\n  {looked}\n"
            f"Put {entity}.yaml in one of them, or set {MAPPINGS_ENV} to the folder that holds it."
        )
        super().__init__(f"{entity}.yaml", [("", problem)])


def _doc(mapping: SyncMapping, dag_id: str, mapping_file: Path) -> str:
    """The DAG's ``doc_md``, filled in from its mapping."""
    pools = ", ".join(
        f"`{pool}` for {what}"
        for what, pool in (
            ("Workday calls", mapping.workday_pool),
            ("Pipedrive calls", mapping.pipedrive_pool),
        )
        if pool
    )
    from ml_connector.audit.summary import LoadSummary, summary_table

    example = LoadSummary(dag_id=dag_id, run_id="", entity=mapping.entity, mode="incremental", dry_run=False)
    channels = [
        name
        for name, on in (
            ("email", mapping.alerts and mapping.alerts.email),
            ("webhook", mapping.alerts and mapping.alerts.webhook),
        )
        if on
    ]
    return DOC.format(
        summary_table=summary_table(example),
        alerts=", ".join(channels) + " configured"
        if channels
        else "none configured: alerts go to the task log",
        entity=mapping.entity,
        mapping_file=mapping_file,
        overlap=mapping.overlap_minutes,
        dag_id=dag_id,
        no_filter=ENTITIES[mapping.entity].window_note,
        pools=pools or "none (set `workday_pool` / `pipedrive_pool` in the mapping file to use some)",
    )


class RemedyRetryPolicy(RetryPolicy):
    """Fail at once on what another try cannot fix (the error's class says so: ``Remedy.PERSON``, e.g. a
    rejected credential, a missing Fernet key, an incompatible field, a bad mapping, Pipedrive's edge
    block); retry everything else with the task's backoff. It runs in the worker, on the raised error."""

    def evaluate(
        self, exception: BaseException, try_number: int, max_tries: int, context: Any = None
    ) -> RetryDecision:
        if remedy_of(exception) is Remedy.PERSON:
            return RetryDecision.fail(
                f"needs a person ({type(exception).__name__}): see the error for the fix"
            )
        return RetryDecision.default()


RETRY_POLICY = RemedyRetryPolicy()


def _params() -> dict[str, Param]:
    """The trigger form; each description is what a person reads next to the field."""
    return {
        "mode": Param(
            "incremental",
            type="string",
            enum=list(MODES),
            description=(
                "incremental: Workday changes since the last successful sync; a manual run reads from that "
                "watermark to now, whatever logical date the form shows, and an entity never synced gets "
                "its initial full load. full_refresh: read every Workday record and write what differs. "
                "reconcile: compare every mapped record with Pipedrive, correct drift, report duplicates."
            ),
        ),
        "dry_run": Param(
            False,
            type="boolean",
            description=(
                "Plan only: write plan.parquet in the run's staging folder, call no Pipedrive write "
                "endpoint, and leave the watermark where it is."
            ),
        ),
        "repair_duplicates": Param(
            False,
            type="boolean",
            description=(
                "With mode reconcile: merge the Pipedrive records that carry one Workday ID into the oldest "
                "with Pipedrive's merge (a merged organization's persons move with it); every merge is in "
                "the ledger, and a dry run lists the merges it would make."
            ),
        ),
        "updated_from": Param(
            None,
            type=["null", "string"],
            format="date-time",
            description=(
                "Optional: read only Workday records updated at or after this time (ISO 8601, UTC unless "
                "it has an offset), instead of the window the mode gives; leave empty normally."
            ),
        ),
        "updated_to": Param(
            None,
            type=["null", "string"],
            format="date-time",
            description="Optional: the end of that window (default: now).",
        ),
    }


def build_sync_dag(mapping_file: str | Path, *, task_retries: int = 3) -> DAG:
    """The DAG ``workday_<entity>_to_pipedrive`` for one mapping file (``task_retries``: tests pass 0)."""
    mapping_file = Path(mapping_file)
    mapping = load_mapping(mapping_file)
    dag_id = f"workday_{mapping.entity}_to_pipedrive"
    default_args: dict[str, Any] = {
        "owner": "ml-connector",
        "retries": task_retries,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=30),
        "retry_policy": RETRY_POLICY,
        # On a task's final failure (after its retries): an alert line in the log, and to the channels
        # of the mapping's ``alerts:`` section.
        "on_failure_callback": failure_callbacks(mapping.alerts),
    }

    def ctx() -> RunContext:
        return RunContext.from_airflow(mapping, get_current_context())

    # Pools are opt-in (None: Airflow's default pool): a task naming a missing pool is never scheduled.
    with DAG(
        dag_id=dag_id,
        description=f"Workday {mapping.entity} and contacts into Pipedrive organizations and persons",
        schedule=CronDataIntervalTimetable(mapping.schedule, timezone="UTC"),
        start_date=START_DATE,
        catchup=mapping.catchup,
        max_active_runs=1,
        default_args=default_args,
        params=_params(),
        doc_md=_doc(mapping, dag_id, mapping_file),
        tags=["workday", "pipedrive", mapping.entity],
    ) as dag:

        @task(task_id="refresh_tokens")
        def refresh_tokens() -> None:
            tasks.refresh_tokens(ctx())

        @task(task_id="validate_field_definitions", pool=mapping.pipedrive_pool)
        def validate_field_definitions() -> None:
            tasks.validate_fields(ctx())

        @task(task_id="extract", pool=mapping.workday_pool)
        def extract() -> None:
            tasks.extract(ctx())

        @task(task_id="transform")
        def transform() -> None:
            tasks.transform(ctx())

        # Its outlet is an alias: the assets it updates (and whether it updates any) are known once it ran.
        @task(task_id="load", pool=mapping.pipedrive_pool, outlets=[load_alias(dag_id)])
        def load(*, outlet_events: Any = None) -> None:
            for update in tasks.load(ctx()):
                outlet_events[load_alias(dag_id)].add(update.asset, extra=update.extra)

        @task(task_id="report")
        def report() -> None:
            tasks.report(ctx())

        refresh_tokens() >> validate_field_definitions() >> extract() >> transform() >> load() >> report()
    return dag
