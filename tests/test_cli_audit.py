"""``ml-connector audit`` as people and scripts use it: a record's history, a run, token usage, in every
format, and a clear one-line error (status 1) when the ledger has no answer."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ml_connector.audit.ledger import empty_row, write_part
from ml_connector.audit.query import HISTORY_COLUMNS
from ml_connector.cli import main
from ml_connector.staging.area import StagingArea

ROOT = Path(__file__).resolve().parents[1]
CUSTOMERS, SUPPLIERS = "workday_customers_sync", "workday_suppliers_sync"
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
DAY = timedelta(days=1)
# (run id, start, load tokens): five customer runs over three days, one supplier run
RUNS = {
    "c1": (TODAY - 2 * DAY + timedelta(hours=1), 1000),
    "c2": (TODAY - DAY + timedelta(hours=1), 2000),
    "c3": (TODAY - DAY + timedelta(hours=5), 1000),
    "c4": (TODAY + timedelta(minutes=10), 300),
    "c5": (TODAY + timedelta(minutes=20), 200),
}
SUPPLIER_RUN = ("s1", TODAY - DAY + timedelta(hours=3), 1500)
ACTIONS_NEWEST_FIRST = ["rejected", "update", "unchanged", "update", "create"]


def changes(*triples: tuple[str, Any, Any]) -> str:
    return json.dumps([{"field": f, "before": b, "after": a} for f, b, a in triples])


HISTORY = {  # CUS-001042 (Pipedrive organization 4711): create, update, unchanged, inactive, rejected
    "c1": {"action": "create", "changes": changes(("name", None, "Acme GmbH")), "tokens": 10},
    "c2": {"action": "update", "changes": changes(("payment_terms", "NET30", "NET45")), "tokens": 10},
    "c3": {"action": "unchanged"},
    "c4": {"action": "update", "changes": changes(("status", "Active", "Inactive")), "tokens": 10},
    "c5": {"action": "rejected", "reason": "payment_terms: NET99 is not an option"},
}


def write(area: StagingArea, dag: str, run: str, task: str, rows: list[dict[str, Any]]) -> None:
    entity = "customers" if dag == CUSTOMERS else "suppliers"
    base = {
        "dag_id": dag,
        "run_id": run,
        "task_id": task,
        "try_number": 1,
        "entity": entity,
        "dry_run": False,
    }
    write_part(
        area, entity=entity, run_id=run, task_id=task, rows=[{**empty_row(), **base, **r} for r in rows]
    )


def task_row(ts: datetime, tokens: int) -> dict[str, Any]:
    return {
        "kind": "task",
        "key": "load",
        "action": "success",
        "ts": ts,
        "tokens": tokens,
        "daily_budget": 10_000,
    }


def build(area: StagingArea) -> None:
    for run, (start, tokens) in RUNS.items():
        org = {"kind": "organization", "key": "CUS-001042", "pipedrive_id": 4711, "ts": start, **HISTORY[run]}
        fields = [c["field"] for c in json.loads(org.get("changes") or "[]")]
        rows = [{**org, "fields_changed": fields}, task_row(start + timedelta(minutes=5), tokens)]
        if run == "c5":
            rows += problems_and_incidents(start)
        write(area, CUSTOMERS, run, "load", rows)
    summary = {"window": {"start": "2026-01-01T00:00:00+00:00", "end": "2026-01-02T00:00:00+00:00"}}
    details = {**summary, "mode": "incremental", "organizations": {"read": 3, "rejected": 1, "conflicts": 1}}
    run_row = {"kind": "run", "key": "c5", "action": "incomplete", "ts": RUNS["c5"][0] + timedelta(minutes=9)}
    write(area, CUSTOMERS, "c5", "report", [{**run_row, "tokens": 200, "details": json.dumps(details)}])
    run, start, tokens = SUPPLIER_RUN
    write(area, SUPPLIERS, run, "load", [task_row(start, tokens)])


def problems_and_incidents(start: datetime) -> list[dict[str, Any]]:
    ts = start + timedelta(minutes=1)
    org = {"kind": "organization", "ts": ts}
    limit = {"kind": "rate_limit", "key": "PATCH /api/v2/organizations/{id}", "ts": ts, "http_status": 429}
    return [
        {
            **org,
            "key": "CUS-000300",
            "pipedrive_id": 300,
            "action": "conflict",
            "reason": "edited in Pipedrive",
        },
        {
            **org,
            "key": "CUS-000400",
            "action": "failed",
            "http_status": 503,
            "system": "pipedrive",
            "reason": "down",
        },
        {**limit, "action": "burst", "wait_s": 2.0, "system": "pipedrive"},
    ]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"file://{tmp_path_factory.mktemp('staging')}"
    build(StagingArea(url))
    return url


def audit(capsys: pytest.CaptureFixture[str], root: str, *args: str) -> tuple[int, str, str]:
    status = main(["audit", *args, "--root", root])
    out, err = capsys.readouterr()
    return status, out, err


def shell(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ml_connector.cli", "audit", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


# -- record -------------------------------------------------------------------------------------------------------
def test_record_table_in_a_real_process_with_the_root_from_the_environment(root: str) -> None:
    done = shell("record", "CUS-001042", env={"ML_CONNECTOR_STAGING_ROOT": root})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "CUS-001042: 5 ledger row(s) of CUS-001042 (organization), newest first (times UTC)"
    assert lines[1].split()[:4] == ["ts", "dag", "run", "try"]
    assert [line.split()[7] for line in lines[2:]] == ACTIONS_NEWEST_FIRST  # date, time, dag, run, ...
    assert "status: Active → Inactive" in lines[3]
    assert "payment_terms: NET30 → NET45" in lines[5]
    assert lines[2].endswith("payment_terms: NET99 is not an option")


def test_record_json(capsys: pytest.CaptureFixture[str], root: str) -> None:
    status, out, _ = audit(capsys, root, "record", "CUS-001042", "--format", "json")
    rows = json.loads(out)
    assert status == 0
    assert [r["action"] for r in rows] == ACTIONS_NEWEST_FIRST
    assert list(rows[0]) == list(HISTORY_COLUMNS)
    assert rows[1]["changes"] == "status: Active → Inactive" and rows[1]["fields_changed"] == ["status"]
    assert rows[0]["pipedrive_id"] == 4711 and rows[0]["tokens"] is None
    assert datetime.fromisoformat(rows[0]["ts"]) == RUNS["c5"][0]


def test_record_csv(capsys: pytest.CaptureFixture[str], root: str) -> None:
    status, out, _ = audit(capsys, root, "record", "CUS-001042", "--format", "csv")
    reader = csv.DictReader(io.StringIO(out))
    rows = list(reader)
    assert status == 0
    assert reader.fieldnames == list(HISTORY_COLUMNS)
    assert [r["action"] for r in rows] == ACTIONS_NEWEST_FIRST
    assert rows[3]["changes"] == "payment_terms: NET30 → NET45"
    assert rows[0]["reason"] == "payment_terms: NET99 is not an option"


def test_record_by_pipedrive_id(capsys: pytest.CaptureFixture[str], root: str) -> None:
    status, out, _ = audit(capsys, root, "record", "4711", "--format", "json")
    assert status == 0
    assert {r["key"] for r in json.loads(out)} == {"CUS-001042"}
    assert [r["action"] for r in json.loads(out)] == ACTIONS_NEWEST_FIRST


# -- run ----------------------------------------------------------------------------------------------------------
def test_run_table_lists_the_records_to_look_at_and_rate_limits(
    capsys: pytest.CaptureFixture[str], root: str
) -> None:
    status, out, _ = audit(capsys, root, "run", "c5")
    assert status == 0
    assert out.startswith(f"Run c5 of {CUSTOMERS} (customers): incomplete\n")
    section = out.split("Records to look at (rejected, conflict, failed) (3)\n")[1].split("\n\n")[0]
    outcome = [
        next(w for w in line.split() if w in ("conflict", "failed", "rejected"))
        for line in section.splitlines()[1:]
    ]
    assert outcome == ["conflict", "failed", "rejected"]  # newest first
    assert "HTTP 503: down" in section
    assert "Rate limits (1)" in out and "PATCH /api/v2/organizations/{id}  burst  429" in out


def test_run_json_and_csv(capsys: pytest.CaptureFixture[str], root: str) -> None:
    _, out, _ = audit(capsys, root, "run", "c5", "--format", "json")
    report = json.loads(out)
    assert (report["status"], report["tokens"], report["mode"]) == ("incomplete", 200, "incremental")
    assert report["counts"]["organization"]["conflicts"] == 1
    assert sorted(p["action"] for p in report["problems"]) == ["conflict", "failed", "rejected"]
    assert [r["action"] for r in report["rate_limits"]] == ["burst"]
    _, out, _ = audit(capsys, root, "run", "c5", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["section"] for r in rows].count("problem") == 3
    assert {(r["key"], r["count"]) for r in rows if r["section"] == "count"} >= {
        ("read", "3"),
        ("rejected", "1"),
    }
    assert rows[0]["section"] == "run" and rows[0]["action"] == "incomplete"


def test_run_last_of_a_dag(capsys: pytest.CaptureFixture[str], root: str) -> None:
    _, out, _ = audit(capsys, root, "run", "--last", "--dag", SUPPLIERS, "--format", "json")
    report = json.loads(out)
    assert (report["run_id"], report["dag_id"], report["tokens"]) == ("s1", SUPPLIERS, 1500)
    assert report["status"] == "no report (did the run finish?)"
    _, out, _ = audit(capsys, root, "run", "--last", "--dag", CUSTOMERS, "--format", "json")
    assert json.loads(out)["run_id"] == "c5"


# -- usage --------------------------------------------------------------------------------------------------------
def test_usage_table_against_known_figures(capsys: pytest.CaptureFixture[str], root: str) -> None:
    status, out, _ = audit(capsys, root, "usage", "--days", "3")
    assert status == 0
    lines = out.splitlines()
    assert lines[1].split() == ["day", CUSTOMERS, SUPPLIERS, "total", "of", "budget"]
    days = [(TODAY - n * DAY).date().isoformat() for n in (2, 1, 0)]
    assert [line.split() for line in lines[2:6]] == [
        [days[0], "1000", "0", "1000", "10.0%"],
        [days[1], "3000", "1500", "4500", "45.0%"],
        [days[2], "500", "0", "500", "5.0%"],
        ["total", "4500", "1500", "6000"],
    ]
    assert f"Peak: {days[1]}, 4,500 tokens (45.0% of the daily budget)" in lines
    assert "Rate-limit incidents: burst 1, daily 0, edge 0, reserve 0" in lines
    assert lines[-1] == (
        "At this rate (2,000 tokens a day on the 3 day(s) with runs) the sync uses 20.0% of the daily budget of 10,000."
    )


def test_usage_json_and_csv_with_a_budget(capsys: pytest.CaptureFixture[str], root: str) -> None:
    _, out, _ = audit(capsys, root, "usage", "--days", "3", "--budget", "8000", "--format", "json")
    report = json.loads(out)
    assert [d["total"] for d in report["days"]] == [1000, 4500, 500]
    assert report["peak"]["tokens"] == 4500 and report["peak"]["pct_of_budget"] == pytest.approx(56.25)
    assert report["projection_pct_of_budget"] == pytest.approx(25.0)
    _, out, _ = audit(capsys, root, "usage", "--days", "3", "--entity", "suppliers", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["dag_id"], r["tokens"], r["daily_budget"]) for r in rows] == [
        (SUPPLIERS, "0", "10000"),
        (SUPPLIERS, "1500", "10000"),
        (SUPPLIERS, "0", "10000"),
    ]


def test_usage_plot_writes_a_png(capsys: pytest.CaptureFixture[str], root: str, tmp_path: Path) -> None:
    target = tmp_path / "usage.png"
    status, out, _ = audit(capsys, root, "usage", "--plot", str(target))
    assert status == 0 and f"chart written to {target}" in out
    data = target.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000


# -- user errors --------------------------------------------------------------------------------------------------
def test_an_unknown_record_is_one_line_and_status_1_in_a_real_process(tmp_path: Path) -> None:
    done = shell("record", "CUS-999999", "--root", f"file://{tmp_path}")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(
        "ml-connector audit record: no history for CUS-999999 in the ledger under file://"
    )
    assert "staging root" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "nope"], "ml-connector audit run: no run nope in the ledger under"),
        (["run", "--last", "--dag", "other_dag"], "ml-connector audit run: no runs of DAG other_dag"),
        (["run"], "ml-connector audit run: give a RUN_ID or --last"),
        (["record", "CUS-001042", "--entity", "suppliers"], "no history for CUS-001042"),
    ],
)
def test_user_errors_exit_1_with_the_message(
    capsys: pytest.CaptureFixture[str], root: str, args: list[str], message: str
) -> None:
    status, out, err = audit(capsys, root, *args)
    assert (status, out) == (1, "")
    assert message in err and err.count("\n") == 1


def test_bad_arguments_are_argparse_errors(capsys: pytest.CaptureFixture[str], root: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["audit", "usage", "--days", "0"])
    assert exit_.value.code == 2
    assert "must be 1 or more" in capsys.readouterr().err
