"""The ledger's files: one per task attempt, a retried attempt replacing its rows without losing what
happened, a person's values never kept, old schemas still read, compaction and retention."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from ml_connector.audit import events, ledger
from ml_connector.audit.trail import AuditTrail
from ml_connector.http.errors import BudgetExhausted, EdgeBlocked, TransientError
from ml_connector.staging.area import StagingArea

RUN = "scheduled__2026-11-27T10:00:00+00:00"


@pytest.fixture()
def area(tmp_path: Path) -> StagingArea:
    return StagingArea(f"file://{tmp_path}")


def trail(area: StagingArea, try_number: int = 1, task_id: str = "load") -> AuditTrail:
    return AuditTrail(
        area,
        dag_id="workday_customers_to_pipedrive",
        run_id=RUN,
        entity="customers",
        task_id=task_id,
        try_number=try_number,
        mapping_hash="abc",
    )


def test_every_row_kind_carries_run_task_try_and_mapping(area: StagingArea) -> None:
    first = trail(area)
    with first.listening():
        first.record(
            "organization",
            "CUS-1",
            "update",
            pipedrive_id=7,
            fields=["Payment terms"],
            changes=[("Payment terms", "Net 30", "Net 45")],
            tokens=5,
        )
        first.record("organization", "CUS-2", "failed", reason="HTTP 400: bad option", status=400)
        events.emit(
            events.RateLimitIncident("pipedrive", "PATCH /api/v2/organizations/{id}", "burst", 429, 2.0, "")
        )
        events.emit(events.TokenRefresh("workday", "workday_default", "rejected", "invalid_grant"))
    events.emit(events.TokenRefresh("workday", "workday_default", "refreshed"))  # not listening any more
    first.task("success", tokens=15, daily_tokens_left=900, daily_budget=1000)
    rows = ledger.read_file(area, first.flush()).to_pylist()
    assert [(r["kind"], r["action"]) for r in rows] == [
        ("organization", "update"),
        ("organization", "failed"),
        ("rate_limit", "burst"),
        ("token_refresh", "rejected"),
        ("task", "success"),
    ]
    assert {(r["run_id"], r["task_id"], r["try_number"], r["mapping_hash"]) for r in rows} == {
        (RUN, "load", 1, "abc")
    }
    assert json.loads(rows[0]["changes"]) == [
        {"field": "Payment terms", "before": "Net 30", "after": "Net 45"}
    ]
    assert (rows[1]["http_status"], rows[1]["system"]) == (400, "pipedrive")
    assert (rows[2]["key"], rows[2]["wait_s"], rows[2]["http_status"]) == (
        "PATCH /api/v2/organizations/{id}",
        2.0,
        429,
    )
    assert (rows[3]["key"], rows[3]["system"]) == ("workday_default", "workday")
    assert (rows[4]["tokens"], rows[4]["daily_tokens_left"], rows[4]["daily_budget"]) == (15, 900, 1000)


def test_a_person_s_changed_values_are_never_kept_only_the_field_names(area: StagingArea) -> None:
    t = trail(area)
    t.record(
        "person",
        "CON-1",
        "update",
        fields=["email", "org_id"],
        changes=[("email", "old@example.com", "new@example.com"), ("org_id", 3, 4)],
    )
    (row,) = ledger.read_file(area, t.flush()).to_pylist()
    assert json.loads(row["changes"]) == [
        {"field": "email", "personal": True},
        {"field": "org_id", "before": 3, "after": 4},
    ]
    assert "example.com" not in json.dumps(row, default=str)


def test_a_retried_task_replaces_its_rows_but_keeps_what_the_first_try_did(area: StagingArea) -> None:
    first = trail(area, try_number=1)
    first.record("organization", "CUS-1", "create", pipedrive_id=1, tokens=5)
    first.record("organization", "CUS-2", "deferred", reason="the load stopped")
    first.event(
        events.RateLimitIncident("pipedrive", "POST /api/v2/organizations", "edge", 403, None, "blocked")
    )
    first.task("failed", tokens=5, reason="EdgeBlocked: ...")
    first.flush()
    first.flush()  # flushing twice in one attempt changes nothing

    second = trail(area, try_number=2)
    assert [r["key"] for r in second.earlier_writes()] == ["CUS-1"]
    second.record("organization", "CUS-1", "unchanged", pipedrive_id=1)  # what try 1 created
    second.record("organization", "CUS-2", "create", pipedrive_id=2, tokens=5)
    second.task("success", tokens=5)
    rows = ledger.read_file(area, second.flush()).to_pylist()
    assert sorted((r["kind"], r["key"], r["action"], r["try_number"]) for r in rows) == [
        ("organization", "CUS-1", "create", 1),
        ("organization", "CUS-2", "create", 2),
        ("rate_limit", "POST /api/v2/organizations", "edge", 1),
        ("task", "load", "failed", 1),
        ("task", "load", "success", 2),
    ]
    parts = list(ledger.day_parts(area, "customers"))
    assert len(parts) == 1  # one file per task of a run, whatever the number of tries


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (TransientError("pipedrive", "x", status=429, retry_after_s=2.0), "burst"),
        (EdgeBlocked("pipedrive", "x", status=403), "edge"),
        (BudgetExhausted("pipedrive", "x", remaining=0, reserve=10, status=429), "daily"),
        (BudgetExhausted("pipedrive", "x", remaining=5, reserve=10), "reserve"),
    ],
)
def test_each_rate_limit_error_is_an_incident_of_its_kind(error: Any, kind: str) -> None:
    incident = events.incident_of(error, "PATCH /api/v2/persons/12?x=1")
    assert incident is not None and incident.kind == kind
    assert incident.route == "PATCH /api/v2/persons/{id}"


def test_other_errors_are_no_incident() -> None:
    assert events.incident_of(TransientError("pipedrive", "x", status=503), "GET /x") is None


def test_files_of_an_older_schema_are_read_with_the_new_columns_empty(area: StagingArea) -> None:
    old = pa.table(
        {
            "ts": pa.array([datetime(2026, 11, 1, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
            "dag_id": ["d"],
            "run_id": ["r"],
            "entity": ["customers"],
            "kind": ["organization"],
            "key": ["CUS-1"],
            "pipedrive_id": pa.array([4], pa.int64()),
            "action": ["create"],
            "fields_changed": [["name"]],
            "reason": [""],
            "tokens": pa.array([5], pa.int64()),
            "dry_run": [False],
        }
    )
    area.write_table(area.root / "ledger" / "customers" / "2026-11-01" / "r.parquet", old)
    frame = ledger.read_ledger(area)
    assert list(frame.columns) == ledger.COLUMNS
    assert frame.loc[0, "key"] == "CUS-1" and frame.isna().loc[0, "try_number"]


def _write_day(area: StagingArea, day: datetime, run: str) -> None:
    row = {"ts": day, "run_id": run, "kind": "task", "key": "load", "action": "success", "tokens": 10}
    area.write_table(ledger.part_path(area, "customers", day.date(), run, "load"), ledger.to_table([row]))


def test_compaction_folds_old_days_into_monthly_files_and_drops_rows_past_retention(
    area: StagingArea,
) -> None:
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    for days_ago in range(0, 60):
        for hour in (1, 13):
            moment = now - timedelta(days=days_ago, hours=hour)
            _write_day(area, moment, f"run-{days_ago}-{hour}")
    before = ledger.read_ledger(area)
    assert len(before) == 120
    folded, dropped = ledger.compact(area, "customers", retention_days=40, compact_after_days=7, now=now)
    after = ledger.read_ledger(area)
    cutoff = (now - timedelta(days=40)).date()
    assert dropped == sum(1 for ts in before["ts"] if ts.date() < cutoff)
    assert len(after) == len(before) - dropped
    assert set(after["run_id"]) == {
        r for r, ts in zip(before["run_id"], before["ts"], strict=True) if ts.date() >= cutoff
    }
    files = [p for p in (area.root / "ledger" / "customers").rglob("*.parquet")]
    recent_days = {p.parent.name for p in files if p.parent.name != "customers"}
    assert all(d >= (now - timedelta(days=7)).date().isoformat() for d in recent_days)
    assert sorted(p.name for p in files if p.parent.name == "customers") == [
        "month-2026-10.parquet",
        "month-2026-11.parquet",
    ]
    assert folded > 80 and len(files) < 20
    # again: nothing more to fold, nothing lost
    assert ledger.compact(area, "customers", retention_days=40, compact_after_days=7, now=now) == (0, 0)
    assert len(ledger.read_ledger(area)) == len(after)


def test_a_reason_that_echoes_a_credential_is_scrubbed_before_it_is_kept(area: StagingArea) -> None:
    t = trail(area)
    t.task("failed", reason="InvalidHeader: invalid header value b'x-api-token: Bearer abcdef0123456789'")
    t.record(
        "organization", "CUS-1", "failed", reason="POST https://h.example/v1/x?api_token=abc123456789: 500"
    )
    rows = ledger.read_file(area, t.flush()).to_pylist()
    assert all("abcdef0123456789" not in r["reason"] and "abc123456789" not in r["reason"] for r in rows)
    assert "InvalidHeader" in rows[0]["reason"] and "500" in rows[1]["reason"]


def test_a_listener_that_fails_never_changes_the_call_that_emitted(caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: events.Event) -> None:
        raise OSError("staging unreachable")

    seen: list[events.Event] = []
    with events.listening(broken), events.listening(seen.append):
        events.emit(events.TokenRefresh("pipedrive", "pipedrive_default", "refreshed"))
    assert len(seen) == 1 and "could not record TokenRefresh" in caplog.text


def test_reading_with_a_filter_keeps_only_the_matching_rows(area: StagingArea) -> None:
    t = trail(area)
    for i in range(50):
        t.record("organization", f"CUS-{i}", "unchanged", pipedrive_id=i)
    t.task("success", tokens=3)
    t.flush()
    import pyarrow.compute as pc

    tasks = ledger.read_ledger(area, where=pc.field("kind") == "task")
    assert list(tasks["key"]) == ["load"] and list(tasks["tokens"]) == [3]


def test_a_task_retried_after_its_run_was_compacted_replaces_its_rows_in_the_month_file(
    area: StagingArea,
) -> None:
    started = datetime.now(UTC) - timedelta(days=30)
    first = trail(area, try_number=1)
    first.record("organization", "CUS-1", "create", pipedrive_id=1, tokens=5)
    first.record("organization", "CUS-2", "failed", reason="HTTP 500", status=500)
    first.task("failed", tokens=5)
    for row in first.rows:
        row["ts"] = started
    old_part = ledger.part_path(area, "customers", started.date(), RUN, "load")
    area.write_table(old_part, ledger.to_table(first.rows))
    ledger.compact(area, "customers", retention_days=400)
    assert list(ledger.day_parts(area, "customers")) == []  # folded into the month file

    again = AuditTrail(
        area,
        dag_id="workday_customers_to_pipedrive",
        run_id=RUN,
        entity="customers",
        try_number=2,
        run_started=started,
    )
    assert [r["key"] for r in again.earlier_writes()] == ["CUS-1"] and again.folded
    again.record("organization", "CUS-1", "unchanged", pipedrive_id=1)
    again.record("organization", "CUS-2", "create", pipedrive_id=2, tokens=5)
    again.task("success", tokens=5)
    again.flush()
    assert ledger.drop_folded(area, "customers", RUN, "load", started) == 3

    rows = ledger.read_ledger(area)
    assert sorted(zip(rows["key"], rows["action"], rows["try_number"], strict=True)) == [
        ("CUS-1", "create", 1),
        ("CUS-2", "create", 2),
        ("load", "failed", 1),
        ("load", "success", 2),
    ]


def test_the_task_wrapper_takes_a_compacted_run_s_rows_out_of_the_month_file(area: StagingArea) -> None:
    from ml_connector.dag import tasks
    from ml_connector.dag.context import RunContext
    from ml_connector.mapping import load_mapping

    started = datetime.now(UTC) - timedelta(days=40)
    first = trail(area, task_id="report")
    first.run("success", tokens=10, details={})
    for row in first.rows:
        row["ts"] = started
    area.write_table(
        ledger.part_path(area, "customers", started.date(), RUN, "report"), ledger.to_table(first.rows)
    )
    ledger.compact(area, "customers", retention_days=400)

    mapping = load_mapping(Path(__file__).resolve().parents[2] / "include" / "mappings" / "customers.yaml")
    ctx = RunContext(
        dag_id="workday_customers_to_pipedrive",
        run_id=RUN,
        mapping=mapping,
        area=area,
        mode="incremental",
        run_after=started,
        task_id="report",
        try_number=2,
    )
    with tasks.audited(ctx) as audit:
        audit.trail.run("success", tokens=10, details={})
    runs = ledger.read_ledger(area).query("kind == 'run'")
    assert list(runs["try_number"]) == [2]  # the report retried weeks later: one run row, not two


def test_a_retried_task_with_more_rows_than_memory_holds_is_written_whole_and_in_order(
    area: StagingArea, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ml_connector.audit.trail.BATCH_ROWS", 3)
    monkeypatch.setattr("ml_connector.staging.spool.SPILL_ROWS", 7)
    first = trail(area, try_number=1)
    for i in range(10):  # try 1 created ten records, then failed
        first.record("organization", f"CUS-{i}", "create", pipedrive_id=i + 1, tokens=5)
    first.task("failed", tokens=50)
    first.flush()

    second = trail(area, try_number=2)
    second.earlier_writes()  # read before this attempt writes, as the load does
    for i in range(40):
        action = "unchanged" if i < 10 else "create"
        second.record("organization", f"CUS-{i}", action, pipedrive_id=i + 1, tokens=0 if i < 10 else 5)
    second.task("success", tokens=150)
    assert second._spool._spilled  # the rows went through spill files
    rows = ledger.read_file(area, second.flush()).to_pylist()
    records = [(r["key"], r["action"], r["try_number"]) for r in rows if r["kind"] == "organization"]
    assert records == [(f"CUS-{i}", "create", 1) for i in range(10)] + [
        (f"CUS-{i}", "create", 2) for i in range(10, 40)
    ]  # try 2's unchanged rows of try 1's creates are dropped, in every spilled batch
    assert [(r["action"], r["try_number"]) for r in rows if r["kind"] == "task"] == [
        ("failed", 1),
        ("success", 2),
    ]


def test_a_retry_reads_only_what_it_keeps_of_an_earlier_attempt(area: StagingArea) -> None:
    first = trail(area, try_number=1)
    for i in range(5):
        first.record("organization", f"CUS-{i}", "unchanged", pipedrive_id=i + 1)
    first.record("organization", "CUS-9", "create", pipedrive_id=9, tokens=5)
    first.event(events.RateLimitIncident("pipedrive", "POST /api/v2/organizations", "burst", 429, 2.0, "x"))
    first.task("failed", tokens=5)
    first.flush()
    kept = ledger.earlier_rows(area, "customers", RUN, "load")
    assert sorted((r["kind"], r["action"]) for r in kept) == [
        ("organization", "create"),
        ("rate_limit", "burst"),
        ("task", "failed"),
    ]  # the five unchanged rows are replaced by the retry's own: never read
