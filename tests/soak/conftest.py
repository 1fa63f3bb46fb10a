"""Fixtures of the randomized soak: a small tenant, an empty Pipedrive on the ultimate plan, both DAGs run
with ``dag.test()`` on the real metadata database, short HTTP timeouts and millisecond retry waits."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from soak.settings import HTTP_TIMEOUT_S
from support.sync_world import SyncWorld

from ml_connector.http.retry import RetryPolicy
from ml_connector.sandbox.runtime import RunningSandbox
from ml_connector.staging.area import StagingArea

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = ROOT / "include" / "mappings"


@pytest.fixture()
def soak_world(
    airflow_db: str,
    make_sandbox: Callable[..., RunningSandbox],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> Iterator[SyncWorld]:
    """40 customers and 20 suppliers, both connections set with a short timeout, and every retry policy
    the hooks build made fast (the same decisions as production, millisecond waits). Only warnings are
    captured from the logs: a failing soak's report is its own message, not thousands of audit lines."""
    caplog.set_level(logging.WARNING)
    caplog.set_level(logging.WARNING, logger="airflow")
    sandbox = make_sandbox(customers=40, suppliers=20, seed=11, pipedrive_plan="ultimate", pipedrive_seats=2)
    monkeypatch.setenv("AIRFLOW_CONN_WORKDAY_DEFAULT", f"{sandbox.workday_conn_uri}&timeout={HTTP_TIMEOUT_S}")
    monkeypatch.setenv(
        "AIRFLOW_CONN_PIPEDRIVE_DEFAULT", f"{sandbox.pipedrive_oauth_conn_uri}&timeout={HTTP_TIMEOUT_S}"
    )
    monkeypatch.setenv("ML_CONNECTOR_FERNET_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("ML_CONNECTOR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ML_CONNECTOR_STAGING_ROOT", f"file://{tmp_path / 'staging'}")
    area = StagingArea(f"file://{tmp_path / 'staging'}")

    import ml_connector.http.client as http_client

    def fast_policy() -> RetryPolicy:
        return RetryPolicy(max_attempts=6, base_delay_s=0.01, max_delay_s=0.05, rng=random.Random(0))

    monkeypatch.setattr(http_client, "RetryPolicy", fast_policy)

    from ml_connector.dag.factory import build_sync_dag

    def run(entity: str, **conf: Any) -> Any:
        """One manual run through ``dag.test()`` with ``conf`` (mode, dry_run ...); tasks are not retried."""
        dag = build_sync_dag(MAPPINGS / f"{entity}.yaml", task_retries=0)
        return dag.test(run_conf=conf or None)

    yield SyncWorld(sandbox, area, run)
