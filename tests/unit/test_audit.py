"""The ledger, the audit log line, the summary and the write journal, on local storage."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from ml_connector.audit import AuditTrail, LoadSummary, audit_line, shortfall
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
        "ledger/customers/" + path.parent.name + "/manual__2026-11-27T10_00_00_00_00--load.parquet"
    )
    rows = area.read_table(path).to_pylist()
    assert [(r["kind"], r["key"], r["action"], r["pipedrive_id"], r["tokens"]) for r in rows] == [
        ("organization", "CUS-000001", "create", 12, 5),
        ("person", "CON-1", "conflict", None, 0),
    ]
    assert rows[0]["fields_changed"] == ["Workday ID", "name"]

    # A retried task replaces its rows but keeps the write the first attempt made.
    again = AuditTrail(
        area, dag_id="d", run_id="manual__2026-11-27T10:00:00+00:00", entity="customers", try_number=2
    )
    again.record("organization", "CUS-000002", "unchanged", pipedrive_id=13)
    rows = area.read_table(again.flush()).to_pylist()
    assert [(r["key"], r["action"], r["try_number"]) for r in rows] == [
        ("CUS-000001", "create", 1),
        ("CUS-000002", "unchanged", 2),
    ]


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


def _summary(**counts: int) -> LoadSummary:
    summary = LoadSummary(dag_id="d", run_id="r", entity="customers", mode="incremental", dry_run=False)
    for name, n in counts.items():
        kind, _, field = name.partition("_")
        setattr(summary.organizations if kind == "org" else summary.persons, field, n)
    return summary


def test_a_run_with_failed_writes_is_incomplete_and_names_the_first_keys() -> None:
    problem = shortfall(
        _summary(org_read=10, org_failed=2, person_read=5, person_failed=5),
        failed_keys=[f"K{i}" for i in range(7, 0, -1)],
        invalid_rejects=0,
        max_rejected_share=0.05,
    )
    assert problem is not None
    assert "7 record(s) failed to write (first: K1, K2, K3, K4, K5)" in problem
    assert "run r of d" in problem


@pytest.mark.parametrize(
    ("rejected", "share", "incomplete"),
    [(5, 0.05, False), (6, 0.05, True), (0, 0.0, False), (1, 0.0, True), (40, 1.0, False)],
)
def test_rejects_past_the_threshold_make_the_run_incomplete(
    rejected: int, share: float, incomplete: bool
) -> None:
    summary = _summary(org_read=60, org_rejected=rejected, person_read=40 - rejected)
    problem = shortfall(summary, failed_keys=[], invalid_rejects=rejected, max_rejected_share=share)
    assert (problem is not None) is incomplete
    if problem:
        assert f"{rejected} of 100 records were rejected as invalid" in problem
    # rejects that are not about the record itself (its organization not read yet) do not count
    assert shortfall(summary, failed_keys=[], invalid_rejects=0, max_rejected_share=share) is None


def test_a_budget_deferral_is_not_a_shortfall() -> None:
    summary = _summary(org_read=10, org_deferred=10)
    summary.budget_exhausted = True
    assert shortfall(summary, failed_keys=[], invalid_rejects=0, max_rejected_share=0.05) is None
