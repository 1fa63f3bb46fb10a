"""A load whose worker is killed (SIGKILL, no cleanup at all) half-way, then run again: no duplicate, no gap."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from ml_connector.dag.context import RunContext
from ml_connector.dag.tasks import extract, load, transform, validate_fields
from ml_connector.mapping import load_mapping
from ml_connector.sandbox.runtime import RunningSandbox
from ml_connector.staging.area import StagingArea

ROOT = Path(__file__).resolve().parents[2]
RUN_ID = "manual__2026-11-27T00:00:00+00:00"
WORKER = """
import json, sys
from datetime import datetime
from ml_connector.mapping import load_mapping
from ml_connector.staging.area import StagingArea
from ml_connector.dag.context import RunContext
from ml_connector.dag.tasks import load
args = json.loads(sys.argv[1])
ctx = RunContext(dag_id=args["dag_id"], run_id=args["run_id"], mapping=load_mapping(args["mapping"]),
                 area=StagingArea(args["root"]), mode="full_refresh", dry_run=False, updated_from=None,
                 updated_to=None, interval_start=None, interval_end=None,
                 run_after=datetime.fromisoformat(args["run_after"]))
load(ctx)
"""


def _context(area: StagingArea) -> RunContext:
    return RunContext(
        dag_id="workday_customers_to_pipedrive",
        run_id=RUN_ID,
        mapping=load_mapping(ROOT / "include" / "mappings" / "customers.yaml"),
        area=area,
        mode="full_refresh",
        dry_run=False,
        updated_from=None,
        updated_to=None,
        interval_start=None,
        interval_end=None,
        run_after=datetime(2026, 11, 27, tzinfo=UTC),
    )


def _workday_ids(sandbox: RunningSandbox) -> Counter[str]:
    headers = {"x-api-token": sandbox.config.pipedrive.api_token}
    fields = requests.get(
        f"{sandbox.pipedrive_url}/api/v2/organizationFields", headers=headers, timeout=30
    ).json()
    key = next(f["field_code"] for f in fields["data"] if f["field_name"] == "Workday ID")
    seen: Counter[str] = Counter()
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        body = requests.get(
            f"{sandbox.pipedrive_url}/api/v2/organizations", params=params, headers=headers, timeout=30
        ).json()
        seen.update(o["custom_fields"][key] for o in body["data"] or [])
        cursor = (body.get("additional_data") or {}).get("next_cursor")
        if not cursor:
            return seen


def _org_posts(sandbox: RunningSandbox) -> int:
    stats = requests.get(f"{sandbox.pipedrive_url}/_sandbox/stats", timeout=30).json()
    return int(stats["by_route"].get("POST /api/v2/organizations", 0))


def test_sigkill_half_way_then_rerun(
    make_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox: RunningSandbox = make_sandbox(customers=60, suppliers=5, pipedrive_plan="lite")
    monkeypatch.setenv("AIRFLOW_CONN_WORKDAY_DEFAULT", sandbox.workday_conn_uri)
    monkeypatch.setenv("AIRFLOW_CONN_PIPEDRIVE_DEFAULT", sandbox.pipedrive_conn_uri)
    area = StagingArea(f"file://{tmp_path / 'staging'}")
    ctx = _context(area)
    validate_fields(ctx)
    extract(ctx)
    transform(ctx)

    args = {
        "dag_id": ctx.dag_id,
        "run_id": ctx.run_id,
        "mapping": str(ROOT / "include" / "mappings" / "customers.yaml"),
        "root": str(area.root),
        "run_after": ctx.run_after.isoformat(),
    }
    worker = subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(args)], env=dict(os.environ))
    deadline = time.monotonic() + 60
    while _org_posts(sandbox) < 12 and time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    half = _workday_ids(sandbox)
    assert 0 < sum(half.values()) < 60

    load(ctx)  # the same run, cleared and re-run by hand

    ids = _workday_ids(sandbox)
    assert len(ids) == 60 and max(ids.values()) == 1
    summary = area.read_json(area.run_dir(ctx.dag_id, ctx.run_id) / "summary.json")
    assert summary["organizations"]["failed"] == 0
    assert summary["organizations"]["created"] + sum(half.values()) >= 60
