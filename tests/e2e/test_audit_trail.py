"""The audit trail of real DAG runs: one customer's history from create to rejected, told by the ledger
and by ``ml-connector audit``; a load retried after an edge block leaves one row per record; no secret
anywhere the trail is kept or shown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from support.secrets import file_texts, leaks
from support.sync_world import SyncWorld, task_states

from ml_connector.audit.ledger import read_ledger
from ml_connector.dag import tasks
from ml_connector.dag.context import RunContext
from ml_connector.mapping import load_mapping
from ml_connector.ui.access import readable_entities
from ml_connector.ui.app import create_app

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "include" / "mappings" / "customers.yaml"


def audit_cli(world: SyncWorld, *args: str) -> subprocess.CompletedProcess[str]:
    """``ml-connector audit ...`` as a person runs it, reading the staging root the DAGs wrote."""
    env = {**os.environ, "ML_CONNECTOR_STAGING_ROOT": str(world.area.root)}
    return subprocess.run(
        [sys.executable, "-m", "ml_connector.cli", "audit", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def record_rows(world: SyncWorld, key: str) -> list[dict[str, Any]]:
    ledger = read_ledger(world.area, entity="customers")
    return ledger[ledger["key"] == key].to_dict("records")


def test_one_customer_s_history_create_update_unchanged_inactive_rejected(world: SyncWorld) -> None:
    first = world.run("customers", mode="full_refresh")
    created = [r for r in read_ledger(world.area).to_dict("records") if r["action"] == "create"]
    key = sorted(r["key"] for r in created if r["kind"] == "organization")[0]

    world.workday("POST", "/workday/mutate", {"update_customers": 1, "only": [key]})
    world.run("customers")
    world.run("customers", mode="full_refresh")
    world.workday("POST", "/workday/mutate", {"deactivate_customers": 1, "only": [key]})
    world.run("customers")
    world.workday("POST", "/workday/mutate", {"unparseable_customers": 1, "only": [key]})
    last = world.run("customers")

    rows = record_rows(world, key)
    assert [r["action"] for r in rows] == ["create", "update", "unchanged", "update", "rejected"]
    assert len({r["run_id"] for r in rows}) == 5 and rows[0]["run_id"] == first.run_id
    assert {r["mapping_hash"] for r in rows} != {None} and {r["try_number"] for r in rows} == {1}
    terms = next(c for c in json.loads(rows[1]["changes"]) if c["field"] == "Workday customer payment terms")
    assert terms["before"] and terms["after"] and terms["before"] != terms["after"]
    status = next(c for c in json.loads(rows[3]["changes"]) if c["field"] == "Workday customer status")
    assert status["after"] == "Inactive"
    assert "not well-formed" in rows[4]["reason"]

    shown = audit_cli(world, "record", key, "--format", "json")
    assert shown.returncode == 0, shown.stderr
    history = json.loads(shown.stdout)
    assert [h["action"] for h in history] == ["rejected", "update", "unchanged", "update", "create"]
    assert f"{terms['before']} → {terms['after']}" in history[3]["changes"]
    table = audit_cli(world, "record", key)
    assert table.returncode == 0 and key in table.stdout and "Inactive" in table.stdout

    # every run has its row and every task its own (one reject in 122 records is within the threshold)
    ledger = read_ledger(world.area, entity="customers")
    runs = ledger[ledger["kind"] == "run"]
    assert len(runs) == 5 and runs.iloc[-1]["run_id"] == last.run_id
    assert set(runs["action"]) == {"success"}
    assert json.loads(runs.iloc[-1]["details"])["organizations"]["rejected"] == 1
    assert (runs["tokens"] > 0).all() and runs["daily_budget"].notna().all()
    tasks_done = ledger[(ledger["kind"] == "task") & (ledger["run_id"] == first.run_id)]
    assert set(tasks_done["task_id"]) == set(tasks_done["task_id"]) & {
        "refresh_tokens",
        "validate_field_definitions",
        "extract",
        "transform",
        "load",
        "report",
    }
    assert len(tasks_done) == 6, sorted(tasks_done["task_id"])
    # each OAuth connection's first refresh is a row, naming the connection and never the token
    refreshes = ledger[ledger["kind"] == "token_refresh"]
    assert set(refreshes["action"]) == {"refreshed"}
    assert set(refreshes["key"]) == {"pipedrive_default", "workday_default"}

    run_report = audit_cli(world, "run", "--last", "--dag", first.dag_id, "--format", "json")
    assert run_report.returncode == 0, run_report.stderr
    assert json.loads(run_report.stdout)["run_id"] == last.run_id

    # the UI page over the same ledger (Airflow's login is the app tests' and the browser test's concern)
    app = create_app(lambda: world.area)
    app.dependency_overrides[readable_entities] = lambda: ["customers", "suppliers"]
    with TestClient(app) as client:
        page = client.get("/", params={"q": key})
        runs_json = client.get("/api/runs")
    assert page.status_code == 200 and key in page.text and "Inactive" in page.text
    assert last.run_id in runs_json.text

    secrets = world.sandbox.secrets_in_play()
    staged = Path(str(world.area.root.path))
    shown_texts = shown.stdout + table.stdout + run_report.stdout
    texts = [*file_texts(staged / "ledger"), ("cli", shown_texts), ("page", page.text + runs_json.text)]
    assert leaks(texts, secrets) == set()


def test_a_load_retried_after_an_edge_block_leaves_one_row_per_record(world: SyncWorld) -> None:
    world.pipedrive(
        "POST",
        "/faults",
        {
            "route": "POST /api/v2/organizations",
            "after": 5,
            "count": 1,
            "status": 403,
            "body": "<html><body>Access denied</body></html>",
            "content_type": "text/html",
        },
    )
    run = world.run("customers", mode="full_refresh")
    assert task_states(run)["load"] == "failed"

    # Airflow's retry of the load: try 2 of the same task in the same run, then the report
    ctx = RunContext(
        dag_id=run.dag_id,
        run_id=run.run_id,
        mapping=load_mapping(MAPPING),
        area=world.area,
        mode="full_refresh",
        task_id="load",
        try_number=2,
    )
    tasks.load(ctx)
    tasks.report(replace(ctx, task_id="report", try_number=1))

    ledger = read_ledger(world.area, entity="customers")
    mine = ledger[ledger["run_id"] == run.run_id]
    records = mine[mine["kind"].isin(["organization", "person"])]
    per_key = Counter(zip(records["kind"], records["key"], strict=True))
    assert per_key and set(per_key.values()) == {1}  # no double rows after the retry
    orgs = records[records["kind"] == "organization"]
    assert set(orgs["action"]) == {"create"} and len(orgs) == len(world.records("organizations"))
    assert set(orgs["try_number"]) == {1, 2}  # the first try's creates kept, the rest from the second
    edge = mine[mine["kind"] == "rate_limit"]
    assert list(edge["action"]) == ["edge"] and list(edge["http_status"]) == [403]
    loads = mine[(mine["kind"] == "task") & (mine["task_id"] == "load")].sort_values("try_number")
    assert list(loads["action"]) == ["failed", "success"] and "EdgeBlocked" in loads.iloc[0]["reason"]
    (run_row,) = mine[mine["kind"] == "run"].to_dict("records")
    assert run_row["action"] == "success"
    spent = mine[mine["kind"] == "task"]["tokens"].sum()
    assert run_row["tokens"] == spent > 0
    counts = json.loads(run_row["details"])["organizations"]
    assert counts["created"] == len(orgs) and counts["unchanged"] == 0
