"""The ledger's questions against a ledger of known rows: a record's history, a run's report, token usage."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import pytest

from ml_connector.audit.ledger import empty_row, write_part
from ml_connector.audit.plot import usage_chart
from ml_connector.audit.query import (
    NO_REPORT,
    UsageReport,
    record_history,
    render_changes,
    run_report,
    usage,
)
from ml_connector.staging.area import StagingArea

CUSTOMERS, SUPPLIERS = "workday_customers_sync", "workday_suppliers_sync"
NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n"


def at(day: int, hour: int = 2, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def run_id(day: int) -> str:
    return f"scheduled__2026-03-{day:02d}T00:00:00+00:00"


def change(name: str, before: Any, after: Any) -> dict[str, Any]:
    return {"field": name, "before": before, "after": after}


def record(key: str, action: str, ts: datetime, pid: int | None = None, **more: Any) -> dict[str, Any]:
    changes = more.pop("changes", None)
    fields = [c["field"] for c in changes] if changes else []
    kind = "person" if key.startswith("CON-") else "organization"
    row = {
        "kind": kind,
        "key": key,
        "pipedrive_id": pid,
        "action": action,
        "ts": ts,
        "fields_changed": fields,
    }
    return {**row, "changes": json.dumps(changes) if changes else None, **more}


def task(task_id: str, ts: datetime, tokens: int, budget: int = 10_000, **more: Any) -> dict[str, Any]:
    return {"kind": "task", "key": task_id, "action": "success", "ts": ts, "tokens": tokens} | {
        "daily_budget": budget,
        "daily_tokens_left": budget - tokens,
        **more,
    }


def run_row(day: int, tokens: int, status: str = "success", **counts: int) -> dict[str, Any]:
    details = {
        "window": {
            "start": f"2026-03-{day - 1:02d}T00:00:00+00:00",
            "end": f"2026-03-{day:02d}T00:00:00+00:00",
        },
        "mode": "incremental",
        "organizations": {"read": 40, **counts},
        "persons": {"read": 12, "updated": 1},
        "requests": 57,
        "duration_s": 84.5,
        "dry_run": False,
    }
    return {"kind": "run", "key": run_id(day), "action": status, "ts": at(day, 3), "tokens": tokens} | {
        "daily_budget": 10_000,
        "daily_tokens_left": 10_000 - tokens,
        "details": json.dumps(details),
    }


def write(area: StagingArea, dag: str, run: str, task_id: str, rows: list[dict[str, Any]]) -> None:
    entity = "customers" if dag == CUSTOMERS else "suppliers"
    base = {"dag_id": dag, "run_id": run, "task_id": task_id, "try_number": 1, "entity": entity}
    full = [{**empty_row(), **base, "mapping_hash": "m1", "dry_run": False, **row} for row in rows]
    write_part(area, entity=entity, run_id=run, task_id=task_id, rows=full)


def build_ledger(area: StagingArea) -> None:
    """Five daily customer runs (CUS-001042: create, update, unchanged, inactive, rejected), two supplier
    runs with the same run ids as two of them, and a customer run whose load failed without a report."""
    loads = {1: 1000, 2: 3000, 3: 500, 4: 2000, 5: 200}
    history = {
        1: record(
            "CUS-001042", "create", at(1, 2, 5), 4711, tokens=10, changes=[change("name", None, "Acme")]
        ),
        2: record(
            "CUS-001042",
            "update",
            at(2, 2, 5),
            4711,
            tokens=10,
            changes=[change("payment_terms", "NET30", "NET45")],
        ),
        3: record("CUS-001042", "unchanged", at(3, 2, 5), 4711),
        4: record(
            "CUS-001042",
            "update",
            at(4, 2, 5),
            4711,
            tokens=10,
            changes=[change("status", "Active", "Inactive")],
        ),
        5: record("CUS-001042", "rejected", at(5, 2, 5), 4711, reason="payment_terms NET99 is not an option"),
    }
    for day, tokens in loads.items():
        write(area, CUSTOMERS, run_id(day), "extract", [task("extract", at(day, 1), 0)])
        rows = [history[day], task("load", at(day, 2, 30), tokens, budget=8_000 if day == 1 else 10_000)]
        if day == 2:
            personal = {"field": "email", "before": None, "after": None, "personal": True}
            rows.append(record("CON-000501", "update", at(2, 2, 6), 900, changes=[personal], tokens=10))
        if day == 5:
            rows += [
                record(
                    "CUS-003000",
                    "conflict",
                    at(5, 2, 6),
                    5000,
                    reason="changed in Pipedrive since the last sync",
                ),
                record(
                    "CUS-004000",
                    "failed",
                    at(5, 2, 7),
                    None,
                    http_status=500,
                    system="pipedrive",
                    reason="server error",
                ),
                {
                    "kind": "rate_limit",
                    "key": "PATCH /api/v2/organizations/{id}",
                    "action": "burst",
                    "ts": at(5, 2, 8),
                }
                | {"http_status": 429, "wait_s": 2.0, "system": "pipedrive"},
                {
                    "kind": "rate_limit",
                    "key": "GET /api/v2/organizations/search",
                    "action": "burst",
                    "ts": at(5, 2, 9),
                }
                | {"http_status": 429, "wait_s": 1.5, "system": "pipedrive"},
            ]
        write(area, CUSTOMERS, run_id(day), "load", rows)
        report = [task("report", at(day, 3), 0), run_row(day, tokens, rejected=1, conflicts=1, failed=1)]
        write(area, CUSTOMERS, run_id(day), "report", report)
    # CUS-002000 later took over Pipedrive organization 4711 (a merge in Pipedrive); earlier it had none.
    write(
        area,
        CUSTOMERS,
        run_id(3),
        "reconcile",
        [
            record("CUS-002000", "rejected", at(3, 2, 40), None, reason="missing name"),
            record("CUS-002000", "adopted", at(3, 2, 41), 4711),
        ],
    )
    for day, tokens in ((2, 2000), (4, 500)):
        rows = [task("load", at(day, 4), tokens)]
        if day == 4:
            rows.append(
                {
                    "kind": "rate_limit",
                    "key": "POST /api/v2/organizations",
                    "action": "daily",
                    "ts": at(4, 4, 1),
                }
            )
        write(area, SUPPLIERS, run_id(day), "load", rows)
    failed = "manual__2026-03-05T06:00:00+00:00"
    write(area, CUSTOMERS, failed, "extract", [task("extract", at(5, 6), 0)])
    write(
        area,
        CUSTOMERS,
        failed,
        "load",
        [
            task("load", at(5, 6, 5), 300, action="failed", reason="HTTP 502 from Pipedrive"),
            record("CUS-005000", "create", at(5, 6, 4), 6000, tokens=10),
        ],
    )


@pytest.fixture(scope="module")
def area(tmp_path_factory: pytest.TempPathFactory) -> StagingArea:
    staging = StagingArea(f"file://{tmp_path_factory.mktemp('ledger')}")
    build_ledger(staging)
    return staging


# -- a record's history -----------------------------------------------------------------------------------------
def test_a_record_s_history_is_newest_first_with_readable_changes(area: StagingArea) -> None:
    history = record_history(area, "CUS-001042")
    assert list(history["action"]) == ["rejected", "update", "unchanged", "update", "create"]
    assert list(history["run_id"]) == [run_id(d) for d in (5, 4, 3, 2, 1)]
    assert history["changes"][1] == "status: Active → Inactive"
    assert history["changes"][3] == "payment_terms: NET30 → NET45"
    assert history["changes"][4] == "name: (empty) → Acme"
    assert history["fields_changed"][1] == ["status"]
    assert history["reason"][0] == "payment_terms NET99 is not an option"
    assert list(history.columns)[:3] == ["ts", "dag_id", "run_id"]


def test_a_person_s_changes_show_no_values(area: StagingArea) -> None:
    history = record_history(area, "CON-000501")
    assert list(history["changes"]) == ["email: (personal, changed)"]
    assert list(history["kind"]) == ["person"]


def test_a_pipedrive_id_finds_every_workday_id_that_had_it_with_all_their_rows(area: StagingArea) -> None:
    history = record_history(area, "4711")
    assert set(history["key"]) == {"CUS-001042", "CUS-002000"}
    assert len(history) == 7  # five of CUS-001042, both of CUS-002000 (one without a Pipedrive ID)
    assert history["ts"].is_monotonic_decreasing


def test_only_record_rows_make_a_history(area: StagingArea) -> None:
    with pytest.raises(ValueError, match=r"no history for load in the ledger under .*: check the ID"):
        record_history(area, "load")  # a task row's key
    with pytest.raises(ValueError, match="no history for CUS-999999"):
        record_history(area, "CUS-999999")
    with pytest.raises(ValueError, match="no history for CUS-001042"):
        record_history(area, "CUS-001042", entity="suppliers")


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (None, ""),
        ("not json", "not json"),
        (json.dumps([{"field": "tags", "before": ["a"], "after": []}]), 'tags: ["a"] → []'),
        (
            json.dumps([{"field": "a", "before": 1, "after": 2}, {"field": "b", "before": "x", "after": ""}]),
            "a: 1 → 2; b: x → (empty)",
        ),
    ],
)
def test_changes_render_as_text(raw: str | None, text: str) -> None:
    assert render_changes(raw) == text


# -- a run --------------------------------------------------------------------------------------------------------
def test_a_run_report_has_the_summary_and_the_records_to_look_at(area: StagingArea) -> None:
    report = run_report(area, run_id(5))
    assert (report.dag_id, report.entity, report.status) == (CUSTOMERS, "customers", "success")
    assert (report.tokens, report.requests, report.duration_s, report.mode) == (200, 57, 84.5, "incremental")
    assert report.window == {"start": "2026-03-04T00:00:00+00:00", "end": "2026-03-05T00:00:00+00:00"}
    assert report.counts["organization"]["read"] == 40
    assert report.counts["organization"]["conflicts"] == 1
    assert report.counts["person"]["updated"] == 1 and report.counts["person"]["created"] == 0
    assert sorted(zip(report.problems["key"], report.problems["action"], strict=True)) == [
        ("CUS-001042", "rejected"),
        ("CUS-003000", "conflict"),
        ("CUS-004000", "failed"),
    ]
    failed = report.problems[report.problems["action"] == "failed"].iloc[0]
    assert (failed["http_status"], failed["reason"]) == (500, "server error")
    assert list(report.rate_limits["wait_s"]) == [2.0, 1.5]
    assert list(report.tasks["task_id"]) == ["extract", "load", "report"]
    assert json.loads(json.dumps(report.to_dict()))["problems"][0]["ts"].startswith("2026-03-05T02:0")


def test_a_run_id_two_dags_share_needs_the_dag(area: StagingArea) -> None:
    with pytest.raises(
        ValueError, match=rf"run id {re.escape(run_id(4))} exists in several DAGs .*{SUPPLIERS}"
    ):
        run_report(area, run_id(4))
    report = run_report(area, run_id(4), dag_id=SUPPLIERS)
    assert (report.status, report.tokens, report.dag_id) == (NO_REPORT, 500, SUPPLIERS)
    assert list(report.rate_limits["action"]) == ["daily"]


def test_a_run_without_a_report_is_told_from_its_task_and_record_rows(area: StagingArea) -> None:
    report = run_report(area, last=True, dag_id=CUSTOMERS)
    assert report.run_id == "manual__2026-03-05T06:00:00+00:00"
    assert report.status == "no report (did the run finish?)"
    assert report.tokens == 300
    assert report.counts == {
        "organization": {**dict.fromkeys(report.counts["organization"], 0), "read": 1, "created": 1}
    }
    assert report.tasks.set_index("task_id")["reason"]["load"] == "HTTP 502 from Pipedrive"


def test_the_last_run_of_each_dag(area: StagingArea) -> None:
    assert run_report(area, last=True, dag_id=SUPPLIERS).run_id == run_id(4)
    assert run_report(area, last=True).run_id == "manual__2026-03-05T06:00:00+00:00"


def test_the_last_run_when_two_dags_ran_under_the_same_run_id(tmp_path: Any) -> None:
    staging = StagingArea(f"file://{tmp_path}")
    write(staging, CUSTOMERS, run_id(7), "load", [task("load", at(7, 1), 100)])
    write(staging, SUPPLIERS, run_id(7), "load", [task("load", at(7, 2), 200)])
    report = run_report(staging, last=True)
    assert (report.dag_id, report.run_id, report.tokens) == (SUPPLIERS, run_id(7), 200)


def test_an_unknown_run_says_what_to_check(area: StagingArea, tmp_path: Any) -> None:
    with pytest.raises(ValueError, match=r"no run nope in the ledger under .*: check the run id"):
        run_report(area, "nope")
    with pytest.raises(ValueError, match="no runs of DAG other in the ledger"):
        run_report(area, last=True, dag_id="other")
    with pytest.raises(ValueError, match="not both"):
        run_report(area, "x", last=True)
    with pytest.raises(ValueError, match="no runs in the ledger"):
        run_report(StagingArea(f"file://{tmp_path}"), last=True)


# -- token usage --------------------------------------------------------------------------------------------------
def test_usage_per_day_and_dag_against_the_budget(area: StagingArea) -> None:
    report = usage(area, days=7, now=NOW)
    assert (report.start, report.end) == (date(2026, 2, 28), date(2026, 3, 6))
    assert report.dags == [CUSTOMERS, SUPPLIERS]
    # task rows only: 1000 / 3000+2000 / 500 / 2000+500 / 200+300 (the failed run); record tokens not added
    assert report.totals() == [0, 1000, 5000, 500, 2500, 500, 0]
    assert report.per_dag() == {CUSTOMERS: 7000, SUPPLIERS: 2500}
    assert report.budget == 10_000  # the newest recorded, not day 1's 8000
    assert report.peak() == (date(2026, 3, 2), 5000)
    assert report.peak_pct() == pytest.approx(50.0)
    assert len(report.run_days) == 5
    assert report.average() == pytest.approx(1900.0)  # 9500 over the 5 days with runs, not over 7
    assert report.projection_pct() == pytest.approx(19.0)
    assert report.projection().startswith("at this rate (1,900 tokens a day on the 5 day(s) with runs)")
    assert "19.0% of the daily budget of 10,000" in report.projection()
    assert report.rate_limits == {"burst": 2, "daily": 1, "edge": 0, "reserve": 0}


def test_usage_with_a_given_budget_a_shorter_period_and_an_entity(area: StagingArea) -> None:
    report = usage(area, days=2, budget=2_000, now=NOW, entity="customers")
    assert report.days == [date(2026, 3, 5), date(2026, 3, 6)]
    assert report.totals() == [500, 0]
    assert report.peak_pct() == pytest.approx(25.0)
    assert report.projection_pct() == pytest.approx(25.0)
    assert report.rows() == [
        {"day": "2026-03-05", "dag_id": CUSTOMERS, "tokens": 500},
        {"day": "2026-03-06", "dag_id": CUSTOMERS, "tokens": 0},
    ]


def test_usage_of_an_empty_ledger(tmp_path: Any) -> None:
    report = usage(StagingArea(f"file://{tmp_path}"), days=3, now=NOW)
    assert (report.totals(), report.dags, report.budget, report.peak()) == ([0, 0, 0], [], None, None)
    assert report.projection() == "no runs between 2026-03-04 and 2026-03-06"
    assert report.to_dict()["peak"] is None
    with pytest.raises(ValueError, match="days must be 1 or more"):
        usage(StagingArea(f"file://{tmp_path}"), days=0)


@pytest.mark.parametrize("days", [7, 1])
def test_the_chart_is_a_png(area: StagingArea, days: int) -> None:
    out = io.BytesIO()
    usage_chart(usage(area, days=days, now=NOW), out)
    assert out.getvalue().startswith(PNG) and len(out.getvalue()) > 1000


def test_the_chart_of_no_days_and_no_budget(tmp_path: Any) -> None:
    empty = UsageReport(date(2026, 3, 1), date(2026, 3, 1), pd.DataFrame(), frozenset(), None, {})
    target = tmp_path / "empty.png"
    usage_chart(empty, target)
    assert target.read_bytes().startswith(PNG)
