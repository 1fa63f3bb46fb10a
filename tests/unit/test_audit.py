"""The ledger, the audit log line, the summary and the write journal, on local storage."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from ml_connector.audit import AuditTrail, LoadSummary, audit_line
from ml_connector.load.state import Journal, JournalEntry
from ml_connector.staging.area import StagingArea


@pytest.fixture()
def area(tmp_path: Path) -> StagingArea:
    return StagingArea(f"file://{tmp_path}")


def test_each_record_is_one_ledger_row_and_one_log_line_without_values(
    area: StagingArea, caplog: pytest.LogCaptureFixture
) -> None:
    trail = AuditTrail(area, dag_id="d", run_id="manual__2026-11-27T10:00:00+00:00", entity="customers")
    with caplog.at_level(logging.INFO, logger="ml_connector.audit"):
        trail.record(
            "organization", "CUS-000001", "create", pipedrive_id=12, fields=["name", "Workday ID"], tokens=5
        )
        trail.record("person", "CON-1", "conflict", reason="2 Pipedrive persons carry Workday ID CON-1")
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == (
        "audit action=create entity=organization key=CUS-000001 pipedrive_id=12 dag_id=d "
        'run_id=manual__2026-11-27T10:00:00+00:00 fields="Workday ID,name" tokens=5'
    )
    assert caplog.records[1].levelno == logging.WARNING and 'reason="2 Pipedrive persons' in lines[1]
    path = trail.flush()
    assert str(path.path).endswith(
        "ledger/customers/" + path.parent.name + "/manual__2026-11-27T10_00_00_00_00.parquet"
    )
    rows = area.read_table(path).to_pylist()
    assert [(r["kind"], r["key"], r["action"], r["pipedrive_id"], r["tokens"]) for r in rows] == [
        ("organization", "CUS-000001", "create", 12, 5),
        ("person", "CON-1", "conflict", None, 0),
    ]
    assert rows[0]["fields_changed"] == ["Workday ID", "name"]

    again = AuditTrail(area, dag_id="d", run_id="manual__2026-11-27T10:00:00+00:00", entity="customers")
    again.record("organization", "CUS-000002", "unchanged", pipedrive_id=13)
    assert area.read_table(again.flush()).num_rows == 3  # a re-run of the run appends, never loses rows


def test_log_values_with_spaces_are_quoted_so_lines_stay_parseable() -> None:
    row: dict[str, Any] = {
        "action": "failed",
        "kind": "organization",
        "key": "CUS 1",
        "pipedrive_id": None,
        "dag_id": "d",
        "run_id": "r",
        "fields_changed": [],
        "tokens": 0,
        "dry_run": True,
        "reason": 'a "quoted" reason',
    }
    line = audit_line(row)
    assert 'key="CUS 1"' in line and "pipedrive_id=-" in line and "dry_run=true" in line
    assert line.endswith('reason="a \\"quoted\\" reason"')


def test_the_summary_counts_by_kind_and_serialises(area: StagingArea) -> None:
    summary = LoadSummary(dag_id="d", run_id="r", entity="customers", mode="incremental", dry_run=False)
    summary.count("organization", "create", 3)
    summary.count("person", "deferred")
    data = json.loads(json.dumps(summary.to_json()))
    assert data["organizations"]["created"] == 3 and data["persons"]["deferred"] == 1
    assert LoadSummary.model_validate(data) == summary
    assert "organizations: created 3; persons: deferred 1" in str(summary)


def test_journal_appends_from_many_threads_are_whole_lines_and_a_torn_tail_is_ignored(
    area: StagingArea,
) -> None:
    journal = Journal(area, "customers", "run-1")

    def write(t: int) -> None:
        for i in range(50):
            journal.append(
                JournalEntry("run-1", "organization", f"CUS-{t}-{i}", "create", i, "h", {"n": "x" * 300})
            )

    threads = [threading.Thread(target=write, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with open(journal.path.path, "a") as fh:
        fh.write('{"run_id": "run-1", "kind": "organiz')  # the process died mid-line
    entries, files = journal.pending()
    assert len(entries) == 400 and len({e.key for e in entries}) == 400
    assert [f.name for f in files] == ["run-1.jsonl"]
    journal.close(files)
    assert journal.pending() == ([], [])
