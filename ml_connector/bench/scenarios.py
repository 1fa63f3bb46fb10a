"""What ``make bench`` measures: each scenario runs the real DAG tasks against a fresh sandbox and returns
its figures, each with its goal, and the details they come from.

Writes are counted where Pipedrive sees them (the sandbox's requests by route), tokens as the sandbox
charged them; the load's own summary is kept beside them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ml_connector.bench.world import DagRun, SandboxProcess, world
from ml_connector.hooks.pipedrive_http import sustainable_share
from ml_connector.pipedrive_limits import BURST_LIMITS, WINDOW_S, AuthKind
from ml_connector.sandbox.bench_suite import Figure
from ml_connector.sandbox.config import PipedrivePlan, SandboxConfig

ENTITIES = ("customers", "suppliers")
RECORD_PATHS = ("/api/v2/organizations", "/api/v2/persons", "/v1/organizations", "/v1/persons")
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
GIB = 1024**3


@dataclass
class Scenario:
    key: str
    title: str
    params: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "params": self.params,
            "figures": [f.to_json() for f in self.figures],
            "details": self.details,
        }


def record_writes(runs: list[DagRun]) -> int:
    """Organization and person creates, updates, deletes and merges the sandbox received."""
    total = 0
    for run in runs:
        for route, n in run.pipedrive_by_route.items():
            method, _, path = route.partition(" ")
            if method in WRITE_METHODS and path.startswith(RECORD_PATHS):
                total += n
    return total


def entities(runs: list[DagRun]) -> int:
    """Organizations and persons the loads read (each DAG counts a shared organization once)."""
    return sum(run.count("read") for run in runs)


def run_json(run: DagRun) -> dict[str, Any]:
    return {
        "entity": run.entity,
        "mode": run.mode,
        "seconds": run.seconds,
        "written": run.written,
        "pipedrive_requests": run.pipedrive_requests,
        "pipedrive_tokens": run.pipedrive_tokens,
        "workday_requests": run.workday_requests,
        "by_route": run.pipedrive_by_route,
        "organizations": run.summary.get("organizations"),
        "persons": run.summary.get("persons"),
        "tasks": [
            {"task": t.task, "seconds": t.seconds, "peak_rss_mib": round(t.peak_rss_bytes / 2**20, 1)}
            for t in run.tasks
        ],
    }


def _sum(runs: list[DagRun], attr: str) -> int:
    return sum(int(getattr(run, attr)) for run in runs)


# -- 1, 2, 3: initial sync, no-change rerun, 5% changed -----------------------------------------------
@dataclass(frozen=True)
class SyncSize:
    customers: int
    suppliers: int
    changed_share: float = 0.05
    seed: int = 7


def sync_scenarios(size: SyncSize) -> list[Scenario]:
    """One tenant into an empty Pipedrive (growth, 10 seats, OAuth): both DAGs in full, again with
    nothing changed, then incrementally after ``changed_share`` of every kind changed in Workday."""
    config = _tenant(size)
    with world(config, oauth=True) as w:
        initial = [w.run(entity, "full_refresh") for entity in ENTITIES]
        rerun = [w.run(entity, "full_refresh") for entity in ENTITIES]
        book = w.workday_summary()
        spec = {
            "update_customers": round(size.changed_share * book["customers"]["total"]),
            "update_suppliers": round(size.changed_share * book["suppliers"]["total"]),
            "update_contacts": round(size.changed_share * book["contacts"]["total"]),
        }
        changed = w.mutate(**spec)
        changed_ids = {k: len(v) for k, v in changed.items() if isinstance(v, list) and v}
        after = [w.run(entity, "incremental") for entity in ENTITIES]
    params = {
        "customers": size.customers,
        "suppliers": size.suppliers,
        "contacts": book["contacts"]["total"],
        "pipedrive": "growth, 10 seats, OAuth",
        "latency_ms": 0,
    }
    return [
        _initial(initial, params),
        _rerun(rerun, _sum(initial, "pipedrive_tokens"), params),
        _changed(after, changed_ids, size.changed_share, params),
    ]


def _initial(runs: list[DagRun], params: dict[str, Any]) -> Scenario:
    written = _sum(runs, "written")
    tokens, requests = _sum(runs, "pipedrive_tokens"), _sum(runs, "pipedrive_requests")
    seconds = sum(r.seconds for r in runs)
    per_token, per_request = tokens / max(written, 1), requests / max(written, 1)
    return Scenario(
        "initial_sync",
        "1. Initial sync into an empty Pipedrive",
        {**params, "mode": "full_refresh, customers then suppliers"},
        [
            Figure("entities written (organizations and persons)", written, "entities"),
            Figure(
                "Pipedrive tokens per entity written",
                round(per_token, 3),
                "tokens",
                "<= 5.1",
                per_token <= 5.1,
            ),
            Figure(
                "Pipedrive requests per entity written",
                round(per_request, 4),
                "requests",
                "<= 1.02",
                per_request <= 1.02,
            ),
            Figure("Pipedrive tokens", tokens, "tokens"),
            Figure("Workday requests", _sum(runs, "workday_requests"), "requests"),
            Figure("wall time (both DAG runs)", round(seconds, 1), "s"),
            Figure("entities written per second", round(written / max(seconds, 1e-9), 1), "entities/s"),
        ],
        {"runs": [run_json(r) for r in runs]},
    )


def _rerun(runs: list[DagRun], initial_tokens: int, params: dict[str, Any]) -> Scenario:
    writes = record_writes(runs)
    tokens = _sum(runs, "pipedrive_tokens")
    share = tokens / max(initial_tokens, 1)
    return Scenario(
        "no_change_rerun",
        "2. No-change rerun",
        {**params, "mode": "full_refresh (every record read and compared)"},
        [
            Figure("writes", writes, "writes", "0", writes == 0),
            Figure("Pipedrive tokens", tokens, "tokens"),
            Figure("tokens as a share of the initial sync", round(share, 5), "share", "<= 1%", share <= 0.01),
            Figure("Workday requests", _sum(runs, "workday_requests"), "requests"),
            Figure("wall time (both DAG runs)", round(sum(r.seconds for r in runs), 1), "s"),
        ],
        {"runs": [run_json(r) for r in runs]},
    )


def _changed(runs: list[DagRun], changed: dict[str, int], share: float, params: dict[str, Any]) -> Scenario:
    writes = record_writes(runs)
    expected = sum(changed.values())
    tokens = _sum(runs, "pipedrive_tokens")
    per_changed = tokens / max(expected, 1)
    return Scenario(
        "changed_5_percent",
        f"3. {share:.0%} changed in Workday",
        {**params, "mode": "incremental", "changed": changed},
        [
            Figure("entities changed in Workday", expected, "entities"),
            Figure("writes", writes, "writes", f"= {expected} (the changed entities)", writes == expected),
            # no goal: besides a 5-token PATCH each, a run reads Pipedrive's recent changes (10 tokens per
            # 500), and here those are the bench's own writes of minutes before
            Figure("Pipedrive tokens per changed entity", round(per_changed, 3), "tokens"),
            Figure("Workday requests", _sum(runs, "workday_requests"), "requests"),
            Figure("wall time (both DAG runs)", round(sum(r.seconds for r in runs), 1), "s"),
        ],
        {"runs": [run_json(r) for r in runs]},
    )


# -- 4: throughput at the limit ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Cell:
    plan: PipedrivePlan
    auth: AuthKind

    @property
    def label(self) -> str:
        return f"{self.plan}, {'OAuth' if self.auth == 'oauth' else 'API token'}"

    @property
    def limit_per_s(self) -> float:
        return BURST_LIMITS[self.auth][self.plan] / WINDOW_S


def sustained(timeline: list[dict[str, Any]]) -> float:
    """Writes per second over the whole seconds between the first and the last second with writes
    (those two are partial, so left out); 0 when the load spans fewer than three seconds."""
    seconds = [int(row["second"]) for row in timeline if row["writes"]]
    if len(seconds) < 3:
        return 0.0
    first, last = seconds[0], seconds[-1]
    inner = sum(int(row["writes"]) for row in timeline if first < row["second"] < last)
    return inner / (last - first - 1)


def dense(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every second from the first to the last of ``timeline`` (idle ones as zeros), ``t`` from 0."""
    if not timeline:
        return []
    rows = {row["second"]: row for row in timeline}
    first, last = timeline[0]["second"], timeline[-1]["second"]
    return [
        {
            "t": s - first,
            "writes": rows.get(s, {}).get("writes", 0),
            "rate_limited": rows.get(s, {}).get("rate_limited", 0),
        }
        for s in range(first, last + 1)
    ]


# Organizations and persons per generated customer (one organization, 1.75 contacts on average).
ENTITIES_PER_CUSTOMER = 2.75


def throughput(cells: list[Cell], seconds_at_limit: float, latency_ms: int, seed: int = 11) -> Scenario:
    """A customers DAG run into an empty Pipedrive for each plan and credential, the sandbox answering
    every request ``latency_ms`` late, with enough customers to keep the limit busy ``seconds_at_limit``
    seconds: how much of the plan's burst limit the load's writes use, from Pipedrive's timeline."""
    scenario = Scenario(
        "throughput",
        "4. Throughput at the limit",
        {
            "latency_ms": latency_ms,
            "seconds_at_limit": seconds_at_limit,
            "mode": "full_refresh",
            "seats": 10,
            "sustained": "writes in the load's whole seconds (its first and last left out) per second",
        },
    )
    scenario.details["cells"] = []
    for cell in cells:
        customers = math.ceil(cell.limit_per_s * seconds_at_limit / ENTITIES_PER_CUSTOMER)
        config = SandboxConfig(
            customers=customers,
            suppliers=0,
            seed=seed,
            latency_ms=latency_ms,
            pipedrive_plan=cell.plan,
            pipedrive_seats=10,
        )
        with world(config, oauth=cell.auth == "oauth") as w:
            run = w.run("customers", "full_refresh")
            timeline = w.pipedrive_stats()["timeline"]
        load = run.task("load")
        first, last = int(load.started), int(load.started + load.seconds)
        writes = [row for row in timeline if first <= row["second"] <= last]
        rate = sustained(writes)
        share = rate / cell.limit_per_s
        rejected = sum(row["rate_limited"] for row in timeline)
        scenario.figures += [
            Figure(
                f"{cell.label}: sustained writes per second, share of the burst limit "
                f"({cell.limit_per_s:g}/s; {customers:,} customers)",
                round(share, 3),
                f"share ({rate:.1f} writes/s)",
                ">= 90%",
                share >= 0.9,
            ),
            Figure(
                f"{cell.label}: the most the hook's pacing sustains at {latency_ms} ms a call",
                round(sustainable_share(cell.auth, cell.plan, latency_ms / 1000), 3),
                "share",
            ),
            Figure(f"{cell.label}: 429 answers (whole run)", rejected, "429s", "0", rejected == 0),
        ]
        scenario.details["cells"].append(
            {
                "plan": cell.plan,
                "auth": cell.auth,
                "customers": customers,
                "limit_per_s": cell.limit_per_s,
                "writes_per_s": round(rate, 2),
                "rate_limited": rejected,
                "run": run_json(run),
                "timeline": dense(writes),
            }
        )
    return scenario


# -- 5: scale and memory ----------------------------------------------------------------------------------
SCALE_TASKS = ("validate_fields", "extract", "transform", "load")
MEASURED = ("extract", "transform", "load")


def scale_config(suppliers: int, seed: int = 13) -> SandboxConfig:
    return SandboxConfig(customers=0, suppliers=suppliers, seed=seed, workday_max_rps=1e6)


def scale(tiers: list[int], sandboxes: dict[int, SandboxProcess]) -> Scenario:
    """The suppliers DAG as a dry run (the load only plans) at each size, with all suppliers' contacts:
    seconds per supplier and peak RSS of each task, each in a worker process of its own; each tier's
    sandbox serves from a process of its own (``sandboxes``, started ahead)."""
    scenario = Scenario(
        "scale",
        "5. Scale and memory (suppliers, dry run)",
        {"suppliers": tiers, "mode": "full_refresh, dry_run", "rss": "VmHWM of the task's worker process"},
    )
    rows: dict[int, DagRun] = {}
    for n in tiers:
        with world(scale_config(n), started=sandboxes[n]) as w:
            contacts = w.workday_summary()["contacts"]["total"]
            rows[n] = w.run("suppliers", "full_refresh", dry_run=True, tasks=SCALE_TASKS)
        scenario.details.setdefault("tiers", []).append(
            {"suppliers": n, "contacts": contacts, "run": run_json(rows[n])}
        )
        for task in MEASURED:
            result = rows[n].task(task)
            scenario.figures += [
                Figure(
                    f"{n:,} suppliers: {task} seconds per supplier", round(result.seconds / n * 1000, 4), "ms"
                ),
                Figure(
                    f"{n:,} suppliers: {task} peak RSS",
                    round(result.peak_rss_bytes / 2**20, 1),
                    "MiB",
                    "<= 1 GiB",
                    result.peak_rss_bytes <= GIB,
                ),
            ]
    small, large = tiers[0], tiers[-1]
    for task in MEASURED:
        a, b = rows[small].task(task).seconds / small, rows[large].task(task).seconds / large
        ratio = b / a if a else 0.0
        scenario.figures.append(
            Figure(
                f"{task}: time per supplier at {large:,} ÷ at {small:,}",
                round(ratio, 3),
                "ratio",
                "within 20% (0.8 to 1.2)",
                0.8 <= ratio <= 1.2,
            )
        )
    return scenario


# -- 6: the naive baseline --------------------------------------------------------------------------------
NAIVE_TASKS = ("validate_fields", "extract", "transform", "naive_load")


def naive(size: SyncSize, initial: Scenario, rerun: Scenario) -> Scenario:
    """The same initial sync and no-change rerun the generic way (:mod:`.naive`), on a tenant of its own
    (smaller when ``size`` says so: it is compared per entity), against ours from scenarios 1 and 2."""
    config = _tenant(size)
    with world(config, oauth=True) as w:
        passes = {
            label: [w.run(entity, "full_refresh", tasks=NAIVE_TASKS) for entity in ENTITIES]
            for label in ("initial", "rerun")
        }
    scenario = Scenario(
        "naive_baseline",
        "6. The naive way: search every record by Workday ID, then create or update it",
        {"customers": size.customers, "suppliers": size.suppliers, "pipedrive": "growth, 10 seats, OAuth"},
    )
    for label, ours, goal in (("initial", initial, 0.25), ("rerun", rerun, 0.02)):
        runs = passes[label]
        n = record_writes(runs)  # the naive load writes every entity once
        tokens, seconds = _sum(runs, "pipedrive_tokens"), sum(r.seconds for r in runs)
        our_runs = ours.details["runs"]
        our_n = sum(
            int((r[kind] or {}).get("read", 0)) for r in our_runs for kind in ("organizations", "persons")
        )
        our_tokens = sum(int(r["pipedrive_tokens"]) for r in our_runs)
        our_seconds = sum(float(r["seconds"]) for r in our_runs)
        token_ratio = (our_tokens / max(our_n, 1)) / (tokens / max(n, 1))
        time_ratio = (our_seconds / max(our_n, 1)) / (seconds / max(n, 1))
        scenario.figures += [
            Figure(f"naive {label}: entities (each searched, then written)", n, "entities"),
            Figure(f"naive {label}: Pipedrive tokens per entity", round(tokens / max(n, 1), 2), "tokens"),
            Figure(
                f"naive {label}: Pipedrive requests per entity",
                round(_sum(runs, "pipedrive_requests") / max(n, 1), 3),
                "requests",
            ),
            Figure(f"naive {label}: wall time per entity", round(seconds / max(n, 1) * 1000, 1), "ms"),
            Figure(
                f"{label}: ours ÷ naive, tokens per entity",
                round(token_ratio, 4),
                "ratio",
                f"<= {goal}",
                token_ratio <= goal,
            ),
            Figure(f"{label}: ours ÷ naive, wall time per entity", round(time_ratio, 3), "ratio"),
        ]
        scenario.details[label] = [run_json(r) for r in runs]
    return scenario


def _tenant(size: SyncSize) -> SandboxConfig:
    """The sync scenarios' tenant: ``size`` in Workday, an empty Pipedrive on Growth with 10 seats."""
    return SandboxConfig(
        customers=size.customers,
        suppliers=size.suppliers,
        seed=size.seed,
        pipedrive_plan="growth",
        pipedrive_seats=10,
    )
