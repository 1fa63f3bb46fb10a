"""Loads that start together, as a backfill beside a scheduled run, two CLI runs or both DAGs would: each
round starts two ``airflow dags test`` processes on an empty Pipedrive, one state and staging root, the
second after a random offset. Zero duplicates, zero lost identity entries, and the later writer says it
waited for the write lock.

``make test`` runs one round of each pairing; ``make soak`` runs ``ML_CONNECTOR_CONCURRENCY_ROUNDS``
(10) with the seed printed, so a failing round can be replayed (``ML_CONNECTOR_CONCURRENCY_SEED``).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from support.cluster import AirflowCluster
from support.sandbox import PipedriveApi, pipedrive_server, workday_server

from ml_connector.load.state import read_identity
from ml_connector.sandbox.config import SandboxConfig
from ml_connector.sandbox.runtime import RunningSandbox, run_sandbox
from ml_connector.staging.area import StagingArea

ROUNDS = int(os.environ.get("ML_CONNECTOR_CONCURRENCY_ROUNDS", "1"))
SEED = int(os.environ.get("ML_CONNECTOR_CONCURRENCY_SEED", str(random.SystemRandom().randrange(10**6))))
DAG = {"customers": "workday_customers_to_pipedrive", "suppliers": "workday_suppliers_to_pipedrive"}
WAITED = "waiting for the Pipedrive write lease"

pytestmark = pytest.mark.timeout(300 + 240 * ROUNDS)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    # Enough records and latency that each load holds the write lock for seconds, longer than the offsets
    # between the two starts: every round really overlaps.
    config = SandboxConfig(
        customers=120, suppliers=60, seed=31, latency_ms=25, pipedrive_plan="ultimate", pipedrive_seats=2
    )
    with run_sandbox(config) as running:
        yield running


@pytest.fixture(scope="module")
def airflow(sandbox: RunningSandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowCluster]:
    """Only the metadata database: ``dags test`` runs its tasks in its own process."""
    home = tmp_path_factory.mktemp("concurrency")
    deployment = AirflowCluster(
        home / "airflow",
        {
            "AIRFLOW_CONN_WORKDAY_DEFAULT": sandbox.workday_conn_uri,
            "AIRFLOW_CONN_PIPEDRIVE_DEFAULT": sandbox.pipedrive_oauth_conn_uri,
            "ML_CONNECTOR_FERNET_KEYS": Fernet.generate_key().decode(),
        },
    )
    try:
        deployment.prepare()
        yield deployment
    finally:
        deployment.stop()


def run_together(
    airflow: AirflowCluster, entities: tuple[str, str], root: Path, offset: float, label: str
) -> list[str]:
    """Both loads on one state and staging root; the logs of both, once both ended (each must succeed)."""
    env = {
        "ML_CONNECTOR_STATE_DIR": str(root / "state"),
        "ML_CONNECTOR_STAGING_ROOT": f"file://{root / 'staging'}",
    }
    procs = []
    for n, entity in enumerate(entities):
        if n:
            time.sleep(offset)
        conf = json.dumps({"mode": "full_refresh"})
        name = f"{label}-{n}-{entity}"
        procs.append((name, airflow.run_cli(name, "dags", "test", DAG[entity], "-c", conf, env=env)))
    logs = []
    for name, proc in procs:
        code = proc.wait(timeout=600)
        text = (airflow.home / f"{name}.log").read_text(errors="replace")
        assert code == 0, f"{name} exited {code}:\n{text[-4000:]}"
        logs.append(text)
    return logs


def check_round(sandbox: RunningSandbox, root: Path, logs: list[str], label: str) -> None:
    area = StagingArea(f"file://{root / 'staging'}")
    with PipedriveApi(sandbox) as api:
        orgs, persons = api.records("organizations"), api.records("persons")
        org_key = api.field_code("organization", "Workday ID")
        person_key = api.field_code("person", "Workday contact ID")
    org_ids = Counter(o["custom_fields"].get(org_key) for o in orgs)
    person_ids = Counter(p["custom_fields"].get(person_key) for p in persons)
    assert {k: n for k, n in org_ids.items() if n > 1} == {}, f"{label}: duplicate organizations"
    assert {k: n for k, n in person_ids.items() if n > 1} == {}, f"{label}: duplicate persons"
    # every record in Pipedrive is in the identity map under its own id: nothing the other load wrote is lost
    for kind, records, key in (("organization", orgs, org_key), ("person", persons, person_key)):
        identity = read_identity(area, kind)  # type: ignore[arg-type]
        assert {r["custom_fields"][key]: r["id"] for r in records} == identity, (
            f"{label}: {kind} identity map"
        )
    assert any(WAITED in log for log in logs), f"{label}: neither load waited for the write lock"


@pytest.mark.parametrize(
    "entities", [("customers", "customers"), ("customers", "suppliers")], ids=["same-dag", "both-dags"]
)
def test_loads_started_together_never_write_side_by_side(
    airflow: AirflowCluster, sandbox: RunningSandbox, tmp_path: Path, entities: tuple[str, str]
) -> None:
    rng = random.Random(f"{SEED}-{'-'.join(entities)}")
    print(f"concurrency seed {SEED} ({ROUNDS} rounds of {entities})")
    for n in range(ROUNDS):
        workday_server(sandbox).reset()
        pipedrive_server(sandbox).reset()
        offset = rng.uniform(0.0, 1.0)
        label = f"round {n + 1} of {entities} (seed {SEED}, offset {offset:.2f} s)"
        root = tmp_path / f"round{n + 1}"
        logs = run_together(airflow, entities, root, offset, f"{'-'.join(entities)}-{n + 1}")
        check_round(sandbox, root, logs, label)
        if entities == ("customers", "suppliers"):
            # every customer and every supplier in exactly one organization, whichever DAG came first
            tenant = workday_server(sandbox).summary()
            expected = {"Customer": tenant["customers"]["total"], "Supplier": tenant["suppliers"]["total"]}
            with PipedriveApi(sandbox) as api:
                assert api.role_counts() == expected, label
