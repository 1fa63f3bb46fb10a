"""A load killed (SIGKILL) while dozens of its writes are in flight at once, then run again: the journal
still holds every write that was answered before it, and the rerun neither misses nor repeats one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.killed_load import creates_sent, kill_load_after, workday_ids
from support.sandbox import PipedriveApi, pipedrive_server
from support.staged import staged_full_refresh

from ml_connector.dag.tasks import load
from ml_connector.sandbox.runtime import RunningSandbox

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "include" / "mappings" / "customers.yaml"


def test_sigkill_with_many_writes_in_flight_then_rerun(
    make_sandbox: Callable[..., RunningSandbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = make_sandbox(customers=120, suppliers=0, pipedrive_plan="ultimate", latency_ms=100)
    monkeypatch.setenv("AIRFLOW_CONN_WORKDAY_DEFAULT", sandbox.workday_conn_uri)
    monkeypatch.setenv("AIRFLOW_CONN_PIPEDRIVE_DEFAULT", sandbox.pipedrive_oauth_conn_uri)
    ctx = staged_full_refresh(MAPPING, tmp_path / "staging", datetime(2026, 12, 2, tzinfo=UTC))
    area = ctx.area
    orgs = ctx.files.read_table("transformed_organizations").num_rows
    persons = ctx.files.read_table("transformed_persons").num_rows
    kill_after = orgs + persons // 2  # among the persons, with the pool at its full size

    kill_load_after(ctx, MAPPING, sandbox, kill_after, within_s=120)
    sent_before = creates_sent(sandbox)
    journal = area.root / "state" / "customers" / "journal"
    journalled = sum(len(area.read_lines(p)) for p in journal.iterdir())
    assert 0 < journalled <= sent_before < orgs + persons

    load(ctx)  # the same run, cleared and re-run

    with PipedriveApi(sandbox) as api:
        org_ids, person_ids = workday_ids(api, "organization"), workday_ids(api, "person")
    assert len(org_ids) == orgs and max(org_ids.values()) == 1  # none missing, none twice
    assert len(person_ids) == persons and max(person_ids.values()) == 1
    stats = pipedrive_server(sandbox).stats()
    assert "429" not in stats["by_status"], stats["by_status"]
    # a POST beyond one per record is one the kill cut off before its answer (the sandbox books those
    # as 499): no write that was answered is sent again
    assert creates_sent(sandbox) - (orgs + persons) <= stats["by_status"].get("499", 0)
    summary = area.read_json(area.run_dir(ctx.dag_id, ctx.run_id) / "summary.json")
    assert summary["organizations"]["failed"] == summary["persons"]["failed"] == 0
    assert not journal.exists() or not any(journal.iterdir())
