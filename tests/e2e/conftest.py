"""End-to-end fixtures: both sync DAGs run with ``dag.test()`` against the sandbox over real HTTP, on a
real Airflow metadata database, with a private staging area and token vault per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from support.sync_world import SyncWorld, as_run_type

from ml_connector.sandbox.runtime import RunningSandbox
from ml_connector.staging.area import StagingArea

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = ROOT / "include" / "mappings"


@pytest.fixture()
def world(
    airflow_db: str,
    make_sandbox: Callable[..., RunningSandbox],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[SyncWorld]:
    """A small tenant, an empty Pipedrive on the ultimate plan, and both connections set."""
    sandbox = make_sandbox(customers=40, suppliers=20, seed=11, pipedrive_plan="ultimate", pipedrive_seats=2)
    monkeypatch.setenv("AIRFLOW_CONN_WORKDAY_DEFAULT", sandbox.workday_conn_uri)
    monkeypatch.setenv("AIRFLOW_CONN_PIPEDRIVE_DEFAULT", sandbox.pipedrive_oauth_conn_uri)
    monkeypatch.setenv("ML_CONNECTOR_FERNET_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("ML_CONNECTOR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ML_CONNECTOR_STAGING_ROOT", f"file://{tmp_path / 'staging'}")
    area = StagingArea(f"file://{tmp_path / 'staging'}")

    from ml_connector.dag.factory import build_sync_dag

    def run(
        entity: str, *, logical_date: datetime | None = None, run_type: str = "manual", **conf: Any
    ) -> Any:
        """One DAG run through ``dag.test()``; ``run_type`` "scheduled" or "backfill" makes the run the
        scheduler or a backfill would create for ``logical_date`` (its data interval from the timetable)."""
        dag = build_sync_dag(MAPPINGS / f"{entity}.yaml", task_retries=0)
        kwargs: dict[str, Any] = {"run_conf": conf or None, "logical_date": logical_date}
        if run_type == "manual":
            return dag.test(**kwargs)
        assert logical_date is not None, "a scheduled or backfill run has a logical date"
        with as_run_type(run_type, dag, logical_date):
            return dag.test(**kwargs)

    yield SyncWorld(sandbox, area, run)
