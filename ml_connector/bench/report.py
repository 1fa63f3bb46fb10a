"""The results of one bench run as ``latest.json``, a markdown table (``latest.md``) and a PNG chart of
the write rate over time against the plan's limit (``write-rate.png``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

JSON_NAME, MARKDOWN_NAME, CHART_NAME = "latest.json", "latest.md", "write-rate.png"


def write_results(results: dict[str, Any], out: Path) -> None:
    """All three files; the chart only once the throughput scenario has a timeline."""
    out.mkdir(parents=True, exist_ok=True)
    (out / JSON_NAME).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / MARKDOWN_NAME).write_text(markdown(results), encoding="utf-8")
    for scenario in results["scenarios"]:
        if scenario["key"] == "throughput" and scenario["details"].get("cells"):
            chart(scenario["details"]["cells"], scenario["params"]["latency_ms"], out / CHART_NAME)


def _value(figure: dict[str, Any]) -> str:
    value = figure["value"]
    unit = str(figure["unit"])
    if unit.startswith("share") and isinstance(value, float):
        shown = f"{value:.1%}" + unit.removeprefix("share")
    elif isinstance(value, float):
        shown = f"{value:,.4g} {unit}" if abs(value) < 1000 else f"{value:,.0f} {unit}"
    else:
        shown = f"{value:,} {unit}"
    return str(shown).strip()


def _verdict(figure: dict[str, Any]) -> str:
    if figure["met"] is None:
        return ""
    return "met" if figure["met"] else "**not met**"


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"# make bench ({results['profile']})",
        "",
        f"Machine: {m['cpu_count']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB, Python {m['python']}, "
        f"{m['platform']}; {m['date']}. Whole run: {results['wall_time_s']:.0f} s.",
        "",
        "| scenario | figure | measured | goal | |",
        "|---|---|---|---|---|",
    ]
    for scenario in results["scenarios"]:
        title = scenario["title"]
        for figure in scenario["figures"]:
            lines.append(
                f"| {title} | {figure['name']} | {_value(figure)} | {figure['goal']} | {_verdict(figure)} |"
            )
            title = ""
    goals = [f for s in results["scenarios"] for f in s["figures"] if f["met"] is not None]
    met = sum(1 for f in goals if f["met"])
    lines += ["", f"{met} of {len(goals)} goals met.", ""]
    return "\n".join(lines)


def chart(cells: list[dict[str, Any]], latency_ms: int, path: Path) -> None:
    """Accepted writes per second of each throughput run, with its plan's limit as a dashed line and the
    seconds that saw 429s marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    for i, cell in enumerate(cells):
        color = f"C{i}"
        label = f"{cell['plan']}, {'OAuth' if cell['auth'] == 'oauth' else 'API token'}"
        t = [row["t"] for row in cell["timeline"]]
        ax.plot(t, [row["writes"] for row in cell["timeline"]], color=color, label=f"{label}: writes/s")
        ax.axhline(cell["limit_per_s"], color=color, linestyle="--", linewidth=1, label=f"{label}: limit")
        refused = [row for row in cell["timeline"] if row["rate_limited"]]
        if refused:
            ax.scatter(
                [row["t"] for row in refused],
                [row["writes"] for row in refused],
                color=color,
                marker="x",
                label=f"{label}: seconds with 429s",
            )
    ax.set_xlabel("seconds since the load task started")
    ax.set_ylabel("accepted writes per second")
    ax.set_title(f"Pipedrive writes per second during a customers load (sandbox latency {latency_ms} ms)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
