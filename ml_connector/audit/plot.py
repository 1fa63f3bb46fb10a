"""The token-usage chart: tokens per UTC day, stacked by DAG, under a line at the daily budget.

Drawn on a bare :class:`~matplotlib.figure.Figure` with the Agg canvas, never through ``pyplot``: no
GUI backend is chosen, nothing global changes, and it is safe inside a worker or the API server.
"""

from __future__ import annotations

from os import PathLike
from typing import IO

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ml_connector.audit.query import UsageReport

BUDGET_COLOR = "#c0392b"


def usage_chart(report: UsageReport, target: str | PathLike[str] | IO[bytes]) -> None:
    """Write the chart of ``report`` to ``target`` (a path or a binary file) as PNG."""
    figure = Figure(figsize=(max(6.0, 0.3 * len(report.days) + 3), 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    _bars(axes, report)
    _budget(axes, report)
    axes.set_title(f"Pipedrive tokens per day, {report.start} to {report.end} (UTC)")
    axes.set_ylabel("tokens")
    if not report.dags:
        axes.text(0.5, 0.5, "no runs in this period", transform=axes.transAxes, ha="center", va="center")
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="upper left", fontsize="small")
    figure.savefig(target, format="png", dpi=100)


def _bars(axes: Axes, report: UsageReport) -> None:
    """One bar per day, one stacked segment per DAG."""
    positions = list(range(len(report.days)))
    bottom = [0] * len(positions)
    for dag in report.dags:
        heights = [int(v) for v in report.tokens[dag]]
        axes.bar(positions, heights, bottom=bottom, label=dag)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    step = max(1, len(positions) // 15)  # at most ~15 date labels, whatever the period
    axes.set_xticks(positions[::step], [d.strftime("%m-%d") for d in report.days[::step]])
    axes.set_xlim(-0.6, max(len(positions), 1) - 0.4)


def _budget(axes: Axes, report: UsageReport) -> None:
    if report.budget is None:
        return
    axes.axhline(report.budget, color=BUDGET_COLOR, linestyle="--", linewidth=1.2, label="daily budget")
    axes.annotate(
        f"daily budget {report.budget:,}",
        xy=(1.0, report.budget),
        xycoords=("axes fraction", "data"),
        xytext=(-4, 3),
        textcoords="offset points",
        ha="right",
        va="bottom",
        color=BUDGET_COLOR,
        fontsize="small",
    )
    axes.set_ylim(0, max(report.budget, *report.totals(), 1) * 1.15)
