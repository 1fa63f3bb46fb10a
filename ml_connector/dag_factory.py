"""Builds one sync DAG per entity from its mapping file; ``dags/*.py`` only call :func:`build_sync_dag`.

Parse-time work is reading and validating the mapping file, nothing else: no API call, no staging I/O.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import (
    DAG,
    CronDataIntervalTimetable,
    ExceptionRetryPolicy,
    Param,
    RetryAction,
    RetryRule,
    get_current_context,
    task,
)

from ml_connector import sync_tasks
from ml_connector.mapping import SyncMapping, load_mapping
from ml_connector.window import MODES

WORKDAY_POOL = "workday_api"
PIPEDRIVE_POOL = "pipedrive_api"
START_DATE = datetime(2026, 1, 1, tzinfo=UTC)
MAPPINGS_ENV = "ML_CONNECTOR_MAPPINGS_DIR"

DOC = """
### Workday {entity} → Pipedrive

Keeps Pipedrive organizations and persons aligned with Workday {entity} and their contacts, one way.

**Tasks**: `refresh_tokens` (credentials valid before any work) → `validate_field_definitions` (custom
fields resolved to Pipedrive keys, created when allowed, pinned) → `extract` (Workday records of the run's
window, all contacts) → `transform` (mapping `{mapping_file}`; invalid records to the rejected file) →
`load` (only changed records written; PATCH only changed fields; no duplicates) → `report`.

**Window**: a scheduled or backfill run extracts its data interval minus {overlap} minutes of overlap
(`airflow backfill create --dag-id {dag_id} --from-date ... --to-date ...` extracts exactly those windows).
A manual run continues from the last successful watermark. {no_filter}

**Trigger params**: `mode` = `incremental` | `full_refresh` | `reconcile` (compare every mapped record with
Pipedrive, correct drift and report duplicates as conflicts), `dry_run` (write the plan, call no Pipedrive write endpoint),
optional `updated_from` / `updated_to` (ISO datetimes).

**Retries**: every task can be cleared and re-run by hand; it re-reads its staged input and replaces its
output. A load that died half-way resumes without duplicates. When the Pipedrive daily budget runs low the
rest is deferred to the next run and the task still succeeds.

**Pools**: `{workday_pool}` (Workday calls) and `{pipedrive_pool}` (Pipedrive calls) cap concurrent API use.
"""


def mapping_path(entity: str) -> Path:
    """``$ML_CONNECTOR_MAPPINGS_DIR/<entity>.yaml``, else ``include/mappings/`` beside the ``dags/`` folder."""
    configured = os.environ.get(MAPPINGS_ENV)
    folder = Path(configured) if configured else Path(__file__).resolve().parents[1] / "include" / "mappings"
    return folder / f"{entity}.yaml"


def _doc(mapping: SyncMapping, dag_id: str, mapping_file: Path) -> str:
    no_filter = (
        "Workday `Get_Customers` has no updated-since filter: customers are scanned in full and only records "
        "whose content changed are written."
        if mapping.entity == "customers"
        else "`Get_Suppliers` is filtered by `Updated_From_Date`/`Updated_To_Date`."
    )
    return DOC.format(
        entity=mapping.entity,
        mapping_file=mapping_file.name,
        overlap=mapping.overlap_minutes,
        dag_id=dag_id,
        no_filter=no_filter,
        workday_pool=WORKDAY_POOL,
        pipedrive_pool=PIPEDRIVE_POOL,
    )


# Errors that another try cannot fix: a person must act first (new credential, mapping or field fix,
# or waiting out Pipedrive's edge block). Everything else is retried with backoff.
RETRY_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception=[
                "ml_connector.http.errors.CredentialRejected",
                "ml_connector.http.errors.EdgeBlocked",
                "ml_connector.fields.FieldDefinitionError",
                "ml_connector.mapping.MappingError",
            ],
            action=RetryAction.FAIL,
            reason="needs a person: see the error message for the fix",
        )
    ]
)


def _params() -> dict[str, Param]:
    return {
        "mode": Param(
            "incremental", type="string", enum=list(MODES), description="What to read and compare."
        ),
        "dry_run": Param(False, type="boolean", description="Write the plan only; no Pipedrive writes."),
        "updated_from": Param(
            None, type=["null", "string"], format="date-time", description="Optional window start (ISO)."
        ),
        "updated_to": Param(
            None, type=["null", "string"], format="date-time", description="Optional window end."
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
    }

    def ctx() -> sync_tasks.RunContext:
        return sync_tasks.RunContext.from_airflow(mapping, get_current_context())

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
            sync_tasks.refresh_tokens(ctx())

        @task(task_id="validate_field_definitions", pool=PIPEDRIVE_POOL)
        def validate_field_definitions() -> None:
            sync_tasks.validate_fields(ctx())

        @task(task_id="extract", pool=WORKDAY_POOL)
        def extract() -> None:
            sync_tasks.extract(ctx())

        @task(task_id="transform")
        def transform() -> None:
            sync_tasks.transform(ctx())

        @task(task_id="load", pool=PIPEDRIVE_POOL)
        def load() -> None:
            sync_tasks.load(ctx())

        @task(task_id="report")
        def report() -> None:
            sync_tasks.report(ctx())

        refresh_tokens() >> validate_field_definitions() >> extract() >> transform() >> load() >> report()
    return dag
