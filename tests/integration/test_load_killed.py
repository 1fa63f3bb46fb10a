"""A load whose worker is killed (SIGKILL, no cleanup at all) anywhere in its writes, then run again: no
duplicate, no gap, every write accounted for in the ledger."""

from __future__ import annotations

import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support.killed_load import kill_load_after, workday_ids
from support.sandbox import PipedriveApi

from ml_connector.dag.context import RunContext
from ml_connector.dag.tasks import extract, load, transform, validate_fields
from ml_connector.mapping import load_mapping
from ml_connector.sandbox.runtime import RunningSandbox
from ml_connector.staging.area import StagingArea

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = "manual__2026-11-27T00:00:00+00:00"


def _context(area: StagingArea) -> RunContext:
    return RunContext(
        dag_id="workday_customers_to_pipedrive",
        run_id=RUN_ID,
        mapping=load_mapping(ROOT / "include" / "mappings" / "customers.yaml"),
        area=area,
        mode="full_refresh",
        run_after=datetime(2026, 11, 27, tzinfo=UTC),
    )


def _workday_ids(sandbox: RunningSandbox, kind: str = "organization") -> Counter[str]:
    with PipedriveApi(sandbox) as api:
        return workday_ids(api, kind)


# Where the worker is killed: after this share of the load's creates (organizations first, then persons).
# make test takes three points; make soak sets ML_CONNECTOR_CRASH_POINTS=20.
POINTS = int(os.environ.get("ML_CONNECTOR_CRASH_POINTS", "3"))


@pytest.mark.parametrize("point", range(POINTS), ids=lambda i: f"{(i + 0.5) / POINTS:.0%}")
def test_sigkill_anywhere_in_a_load_then_rerun(
    make_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: int
) -> None:
    sandbox: RunningSandbox = make_sandbox(customers=60, suppliers=5, pipedrive_plan="growth")
    monkeypatch.setenv("AIRFLOW_CONN_WORKDAY_DEFAULT", sandbox.workday_conn_uri)
    monkeypatch.setenv("AIRFLOW_CONN_PIPEDRIVE_DEFAULT", sandbox.pipedrive_conn_uri)
    area = StagingArea(f"file://{tmp_path / 'staging'}")
    ctx = _context(area)
    validate_fields(ctx)
    extract(ctx)
    transform(ctx)
    orgs = ctx.files.read_table("transformed_organizations").num_rows
    persons = ctx.files.read_table("transformed_persons").num_rows
    kill_after = max(1, int((point + 0.5) / POINTS * (orgs + persons)))

    kill_load_after(ctx, ROOT / "include" / "mappings" / "customers.yaml", sandbox, kill_after)
    written = sum(_workday_ids(sandbox).values()) + sum(_workday_ids(sandbox, "person").values())
    assert 0 < written <= orgs + persons
    # killed before the load ended (the last point may fall after the last create, while the state is
    # saved): its journal, closed last, is still there
    journal_dir = area.root / "state" / "customers" / "journal"
    assert journal_dir.exists() and any(journal_dir.iterdir()), f"the load ended before the kill {kill_after}"

    load(ctx)  # the same run, cleared and re-run by hand

    org_ids, person_ids = _workday_ids(sandbox), _workday_ids(sandbox, "person")
    assert len(org_ids) == orgs and max(org_ids.values()) == 1  # zero missing, zero duplicates
    assert len(person_ids) == persons and max(person_ids.values()) == 1
    summary = area.read_json(area.run_dir(ctx.dag_id, ctx.run_id) / "summary.json")
    assert summary["organizations"]["failed"] == summary["persons"]["failed"] == 0
    # every record is in the ledger exactly once: created (the killed attempt's from its journal), or
    # adopted, when the kill fell between Pipedrive's answer and the journal entry
    ledger = [
        row
        for path in (area.root / "ledger" / "customers").rglob("*.parquet")
        for row in area.read_table(path).to_pylist()
        if row["action"] in ("create", "adopted")
    ]
    accounted = Counter((row["kind"], row["key"]) for row in ledger)
    assert len(accounted) == orgs + persons and max(accounted.values()) == 1
    adopted = Counter(row["kind"] for row in ledger if row["action"] == "adopted")
    assert summary["organizations"]["created"] + adopted["organization"] == orgs
    assert summary["persons"]["created"] + adopted["person"] == persons
    journals = area.root / "state" / "customers" / "journal"
    assert not journals.exists() or not any(journals.iterdir())  # nothing left to replay
