"""How the bench turns the sandbox's counts into figures: which requests are writes, what sustained means."""

from __future__ import annotations

from ml_connector.bench.scenarios import dense, record_writes, sustained
from ml_connector.bench.world import DagRun


def _run(by_route: dict[str, int]) -> DagRun:
    return DagRun("customers", "full_refresh", [], {}, 0, 0, by_route, 0, 0.0)


def test_record_writes_count_organization_and_person_writes_only() -> None:
    run = _run(
        {
            "POST /api/v2/organizations": 3,
            "PATCH /api/v2/persons/{id}": 2,
            "PUT /v1/organizations/{id}/merge": 1,
            "POST /api/v2/organizationFields": 7,  # a field, not a record
            "GET /api/v2/persons": 9,
            "GET /api/v2/organizations/search": 4,
        }
    )
    assert record_writes([run, _run({"DELETE /api/v2/persons/{id}": 1})]) == 7


def test_sustained_rate_leaves_out_the_partial_first_and_last_seconds() -> None:
    timeline = [
        {"second": 100, "writes": 5, "rate_limited": 0},  # the load starts mid-second
        {"second": 101, "writes": 70, "rate_limited": 0},
        {"second": 103, "writes": 80, "rate_limited": 1},  # 102 was idle: it counts as a second
        {"second": 104, "writes": 2, "rate_limited": 0},
    ]
    assert sustained(timeline) == (70 + 0 + 80) / 3
    assert sustained(timeline[:2]) == 0.0  # too short to say
    rows = dense(timeline)
    assert [r["t"] for r in rows] == [0, 1, 2, 3, 4]
    assert [r["writes"] for r in rows] == [5, 70, 0, 80, 2]
    assert [r["rate_limited"] for r in rows] == [0, 0, 0, 1, 0]
