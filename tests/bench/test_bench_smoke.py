"""``make bench`` cannot rot: its smoke profile runs every scenario on a few hundred records against the
sandbox, through the real tasks, and its results must hold sane counts (never a timing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ml_connector.bench.cli import SMOKE, run
from ml_connector.bench.report import CHART_NAME, JSON_NAME, MARKDOWN_NAME

SCENARIOS = (
    "initial_sync",
    "no_change_rerun",
    "changed_5_percent",
    "throughput",
    "scale",
    "naive_baseline",
    "sandbox",
)


def _figure(scenario: dict[str, Any], name: str) -> Any:
    return next(f["value"] for f in scenario["figures"] if f["name"] == name)


def test_smoke_bench_runs_every_scenario(tmp_path: Path) -> None:
    run(SMOKE, tmp_path, log=lambda line: None)

    results = json.loads((tmp_path / JSON_NAME).read_text(encoding="utf-8"))
    by_key = {s["key"]: s for s in results["scenarios"]}
    assert tuple(by_key) == SCENARIOS
    assert {"cpu_count", "cpu_model", "python", "date"} <= set(results["machine"])
    for scenario in results["scenarios"]:
        assert scenario["figures"], scenario["key"]
        for figure in scenario["figures"]:
            assert figure["met"] in (True, False, None)
            assert figure["met"] is None or figure["goal"], figure

    initial = by_key["initial_sync"]
    written = _figure(initial, "entities written (organizations and persons)")
    assert written > SMOKE.sync.customers + SMOKE.sync.suppliers  # organizations and their persons
    assert _figure(initial, "Pipedrive tokens per entity written") >= 5  # a v2 create costs 5

    assert _figure(by_key["no_change_rerun"], "writes") == 0

    changed = by_key["changed_5_percent"]
    expected = sum(changed["params"]["changed"].values())
    assert expected > 0
    assert _figure(changed, "entities changed in Workday") == expected
    assert _figure(changed, "writes") == expected

    cells = by_key["throughput"]["details"]["cells"]
    assert [(c["plan"], c["auth"]) for c in cells] == [(c.plan, c.auth) for c in SMOKE.cells]
    for cell in cells:
        assert sum(row["writes"] for row in cell["timeline"]) >= cell["run"]["written"] > 0
        assert cell["limit_per_s"] > 0

    tiers = by_key["scale"]["details"]["tiers"]
    assert [t["suppliers"] for t in tiers] == list(SMOKE.scale_tiers)
    for tier in tiers:
        writes = [r for r in tier["run"]["by_route"] if r.startswith(("POST /api/v2/o", "POST /api/v2/p"))]
        assert writes == []  # a dry run only plans: no organization, person or field is written
        assert tier["run"]["organizations"]["read"] == tier["suppliers"]
        tasks = {t["task"]: t for t in tier["run"]["tasks"]}
        assert {"extract", "transform", "load"} <= set(tasks)
        assert all(t["peak_rss_mib"] > 0 for t in tasks.values())

    naive = by_key["naive_baseline"]
    assert naive["details"]["initial"] and naive["details"]["rerun"]
    entities = _figure(naive, "naive initial: entities (each searched, then written)")
    assert entities == _figure(naive, "naive rerun: entities (each searched, then written)") > 0
    assert _figure(naive, "naive rerun: Pipedrive tokens per entity") > 20  # a search alone costs 20

    assert (tmp_path / CHART_NAME).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (tmp_path / MARKDOWN_NAME).read_text(encoding="utf-8")
    assert all(s["title"] in table for s in results["scenarios"])
