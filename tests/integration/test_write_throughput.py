"""The real load at 100 ms per call, on Growth and Ultimate over an API token and OAuth: it keeps enough
writes in flight for the plan's burst window and meets no 429.

How fast it goes is ``make bench``'s business; here only what it decides and what the server saw."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.sandbox import pipedrive_server
from support.staged import staged_full_refresh

from ml_connector.dag.tasks import load
from ml_connector.hooks.pipedrive_http import paced_slots
from ml_connector.load.execute import MIN_CONCURRENCY
from ml_connector.pipedrive_limits import BURST_LIMITS
from ml_connector.sandbox.runtime import RunningSandbox

ROOT = Path(__file__).resolve().parents[2]
SIZING = re.compile(r"(organization|person) writes: (\d+) write\(s\), concurrency (\d+) \(peak (\d+)\)")

# (plan, auth, customers): a few hundred writes at most, fewer where the window is narrow.
COMBOS = [
    ("growth", "api_token", 40),
    ("growth", "oauth", 90),
    ("ultimate", "api_token", 90),
    ("ultimate", "oauth", 120),
]


@pytest.mark.parametrize(("plan", "auth", "customers"), COMBOS, ids=[f"{p}-{a}" for p, a, _ in COMBOS])
def test_a_load_at_100_ms_fills_the_window_without_a_429(
    make_sandbox: Callable[..., RunningSandbox],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    plan: str,
    auth: str,
    customers: int,
) -> None:
    sandbox = make_sandbox(customers=customers, suppliers=0, pipedrive_plan=plan, latency_ms=100)
    monkeypatch.setenv("AIRFLOW_CONN_WORKDAY_DEFAULT", sandbox.workday_conn_uri)
    monkeypatch.setenv(
        "AIRFLOW_CONN_PIPEDRIVE_DEFAULT",
        sandbox.pipedrive_oauth_conn_uri if auth == "oauth" else sandbox.pipedrive_conn_uri,
    )
    mapping = ROOT / "include" / "mappings" / "customers.yaml"
    ctx = staged_full_refresh(mapping, tmp_path / "staging", datetime(2026, 12, 1, tzinfo=UTC))
    planned = {
        "organization": ctx.files.read_table("transformed_organizations").num_rows,
        "person": ctx.files.read_table("transformed_persons").num_rows,
    }

    with caplog.at_level(logging.INFO, logger="ml_connector.load.run"):
        load(ctx)

    stats = pipedrive_server(sandbox).stats()
    assert set(stats["by_status"]) <= {"200", "201"}, stats["by_status"]  # not one 429
    by_route = stats["by_route"]
    assert by_route["POST /api/v2/organizations"] == planned["organization"]  # each sent once
    assert by_route["POST /api/v2/persons"] == planned["person"]
    # once per kind, the load logs the concurrency it chose and the latency it saw
    sizings = {m[1]: (int(m[2]), int(m[3]), int(m[4])) for m in SIZING.finditer(caplog.text)}
    assert set(sizings) == {"organization", "person"}, caplog.text
    assert all("latency" in r.getMessage() for r in caplog.records if SIZING.search(r.getMessage()))
    slots = paced_slots(BURST_LIMITS["oauth" if auth == "oauth" else "api_token"][plan])
    for kind, (writes, _, peak) in sizings.items():
        assert writes == planned[kind]
        assert MIN_CONCURRENCY <= peak <= slots
        if (plan, auth) != ("growth", "api_token"):  # 100 ms x at least 78 a second: more than 4 needed
            assert peak > MIN_CONCURRENCY, (kind, peak)
        else:  # 19.5 a second x 100 ms is about 2 in flight: no pool near the window's 39 slots
            assert peak < slots // 2, (kind, peak)
