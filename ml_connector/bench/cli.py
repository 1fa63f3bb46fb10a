"""``make bench``: every scenario in one run, results to ``bench/results``; ``--smoke`` runs them all on a
few hundred records in about a minute (``make test`` runs it so the bench cannot rot)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml_connector.bench import machine, scenarios
from ml_connector.bench.report import write_results
from ml_connector.bench.scenarios import Cell, Scenario, SyncSize
from ml_connector.bench.world import SandboxProcess
from ml_connector.sandbox.bench import sandbox_figures
from ml_connector.sandbox.bench_suite import suite_figures


@dataclass(frozen=True)
class Profile:
    """How big each scenario is."""

    name: str
    sync: SyncSize
    naive: SyncSize
    seconds_at_limit: float  # how long each throughput run keeps its limit busy
    latency_ms: int
    cells: tuple[Cell, ...]
    scale_tiers: tuple[int, int]
    sandbox_creates: int
    soap_pages: int
    suite: bool  # the figures the suite used to time (a minute of their own)


CELLS = (Cell("growth", "oauth"), Cell("ultimate", "oauth"), Cell("growth", "api_token"))
FULL = Profile(
    name="full",
    sync=SyncSize(customers=10_000, suppliers=2_500),
    naive=SyncSize(customers=40, suppliers=10),
    seconds_at_limit=20,
    latency_ms=100,
    cells=CELLS,
    scale_tiers=(25_000, 250_000),
    sandbox_creates=3000,
    soap_pages=6,
    suite=True,
)
SMOKE = Profile(
    name="smoke",
    sync=SyncSize(customers=100, suppliers=25),
    naive=SyncSize(customers=10, suppliers=3),
    seconds_at_limit=2,
    latency_ms=10,
    cells=CELLS,
    scale_tiers=(100, 400),
    sandbox_creates=200,
    soap_pages=1,
    suite=False,
)


def run(profile: Profile, out: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every scenario of ``profile``; the results files are rewritten after each one."""
    started = time.perf_counter()
    results: dict[str, Any] = {
        "profile": profile.name,
        "command": "make bench" if profile.name == "full" else "python -m ml_connector.bench --smoke",
        "machine": machine.describe(),
        "wall_time_s": 0.0,
        "scenarios": [],
    }

    def done(*finished: Scenario) -> None:
        for scenario in finished:
            results["scenarios"].append(scenario.to_json())
            for figure in scenario.figures:
                log(f"  {figure.line()}")
        results["wall_time_s"] = round(time.perf_counter() - started, 1)
        write_results(results, out)
        log(f"[{results['wall_time_s']:.0f} s] written to {out}")

    # the scale scenario's tenants are generated in processes of their own while the others run
    sandboxes = {n: SandboxProcess(scenarios.scale_config(n)) for n in profile.scale_tiers}
    try:
        return _run(profile, results, sandboxes, done, log)
    finally:
        for sandbox in sandboxes.values():
            sandbox.stop()


def _run(
    profile: Profile,
    results: dict[str, Any],
    sandboxes: dict[int, SandboxProcess],
    done: Callable[..., None],
    log: Callable[[str], None],
) -> dict[str, Any]:
    log(f"1-3. initial sync, no-change rerun, changed ({profile.sync})")
    initial, rerun, changed = scenarios.sync_scenarios(profile.sync)
    done(initial, rerun, changed)
    log(f"4. throughput at {profile.latency_ms} ms latency: {', '.join(c.label for c in profile.cells)}")
    done(scenarios.throughput(list(profile.cells), profile.seconds_at_limit, profile.latency_ms))
    log(f"5. scale: {', '.join(f'{n:,}' for n in profile.scale_tiers)} suppliers")
    done(scenarios.scale(list(profile.scale_tiers), sandboxes))
    log(f"6. the naive way ({profile.naive})")
    done(scenarios.naive(profile.naive, initial, rerun))
    log("7. the sandbox's own rate" + (", then the figures the suite used to time" if profile.suite else ""))
    own = Scenario(
        "sandbox",
        "7. The sandbox's own rate" + (" and the suite's former timings" if profile.suite else ""),
        {
            "creates": profile.sandbox_creates,
            "soap_pages": profile.soap_pages,
            "suite_figures": profile.suite,
        },
        sandbox_figures(profile.sandbox_creates, 4, profile.soap_pages)
        + (suite_figures() if profile.suite else []),
    )
    done(own)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml_connector.bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="every scenario on a few hundred records")
    parser.add_argument(
        "--out",
        type=Path,
        help="where the results go (default bench/results, with --smoke .artifacts/bench-smoke)",
    )
    args = parser.parse_args(argv)
    out = args.out or Path(".artifacts/bench-smoke" if args.smoke else "bench/results")
    run(SMOKE if args.smoke else FULL, out, log=lambda line: print(line, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
