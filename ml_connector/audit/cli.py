"""``ml-connector audit``: ask the ledger from a terminal, a script or a spreadsheet.

``record ID`` is one record's history, ``run RUN_ID`` (or ``run --last``) what one run did, ``usage``
the Pipedrive tokens spent per day against the daily budget. ``--format table`` is for people;
``json`` and ``csv`` keep the same field names from release to release, for scripts.

Pandas and the ledger are imported inside the subcommands, not when the parser is built.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from ml_connector.audit.query import RunReport, UsageReport
    from ml_connector.staging.area import StagingArea

PROG = "ml-connector audit"
FORMATS = ("table", "json", "csv")
# The columns of ``audit run --format csv``: one line per task, count, problem record and incident.
RUN_CSV_COLUMNS = (
    "section",
    "ts",
    "task_id",
    "try_number",
    "kind",
    "key",
    "pipedrive_id",
    "action",
    "count",
    "fields_changed",
    "changes",
    "reason",
    "system",
    "http_status",
    "wait_s",
    "tokens",
)
HISTORY_TABLE_COLUMNS = (
    "ts",
    "dag",
    "run",
    "try",
    "workday_id",
    "pipedrive_id",
    "action",
    "tokens",
    "changes / reason",
)
USAGE_CSV_COLUMNS = ("day", "dag_id", "tokens", "daily_budget")

Handler = Callable[[argparse.Namespace, "StagingArea"], str]


# -- the parser -----------------------------------------------------------------------------------------------
def add_audit_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``audit`` and its subcommands on the ``ml-connector`` parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--format", choices=FORMATS, default="table", help="table (default), json or csv")
    common.add_argument(
        "--root",
        default=None,
        help="staging root URL (default: $ML_CONNECTOR_STAGING_ROOT, else file://$AIRFLOW_HOME/ml_connector)",
    )
    common.add_argument("--entity", default=None, help="only this entity's ledger: customers or suppliers")
    audit = sub.add_parser(
        "audit",
        help="what the connector did: a record's history, a run's report, token usage",
        description=(
            "Ask the audit ledger: 'record ID' is one record's history, 'run RUN_ID' (or 'run --last') "
            "what one run did, 'usage' the Pipedrive tokens spent per day against the daily budget. "
            "--format table is for people; json and csv keep stable field names for scripts."
        ),
    )
    commands = audit.add_subparsers(dest="audit_command", required=True)
    record = commands.add_parser(
        "record", parents=[common], help="a record's history across runs, newest first"
    )
    record.add_argument("ident", metavar="ID", help="Workday ID (CUS-001042) or Pipedrive ID (digits)")
    record.set_defaults(audit_handler=_record)
    run = commands.add_parser(
        "run", parents=[common], help="what one run did: counts, problem records, rate limits"
    )
    run.add_argument("run_id", metavar="RUN_ID", nargs="?", help="the Airflow run id")
    run.add_argument("--last", action="store_true", help="the newest run instead of RUN_ID")
    run.add_argument("--dag", dest="dag_id", default=None, help="only runs of this DAG")
    run.set_defaults(audit_handler=_run)
    use = commands.add_parser(
        "usage", parents=[common], help="Pipedrive tokens per day and DAG against the daily budget"
    )
    use.add_argument("--days", type=_positive, default=30, help="the last N UTC days, today included")
    use.add_argument(
        "--budget", type=_positive, default=None, help="daily token budget (default: the ledger's)"
    )
    use.add_argument("--plot", type=Path, default=None, metavar="FILE.png", help="also draw the chart")
    use.set_defaults(audit_handler=_usage)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def run_audit(args: argparse.Namespace) -> int:
    """Run the chosen subcommand: its answer on stdout, or one line on stderr and status 1 when the
    ledger has no answer (a user's error is never a traceback)."""
    from ml_connector.staging.area import StagingArea, default_root

    root = args.root or default_root()
    try:
        handler: Handler = args.audit_handler
        out = handler(args, StagingArea(root))
    except (ValueError, OSError) as exc:
        print(f"{PROG} {args.audit_command}: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return 0


# -- record ---------------------------------------------------------------------------------------------------
def _record(args: argparse.Namespace, area: StagingArea) -> str:
    from ml_connector.audit.query import HISTORY_COLUMNS, record_history, records

    history = record_history(area, args.ident, entity=args.entity)
    if args.format == "json":
        return _json(records(history))
    if args.format == "csv":
        return _csv(HISTORY_COLUMNS, records(history))
    return history_table(args.ident, history)


def history_table(ident: str, history: pd.DataFrame) -> str:
    keys = ", ".join(
        sorted({f"{k} ({kind})" for k, kind in zip(history["key"], history["kind"], strict=True)})
    )
    head = f"{ident}: {len(history)} ledger row(s) of {keys}, newest first (times UTC)"
    rows = [
        [
            _when(r["ts"]),
            r["dag_id"],
            r["run_id"],
            r["try_number"],
            r["key"],
            r["pipedrive_id"],
            r["action"] + (" (dry run)" if _present(r["dry_run"]) and bool(r["dry_run"]) else ""),
            r["tokens"],
            _what(r),
        ]
        for r in history.to_dict("records")
    ]
    return f"{head}\n{table(HISTORY_TABLE_COLUMNS, rows)}"


def _what(row: dict[Any, Any]) -> str:
    """The changes, the reason and the HTTP status of a row, as one cell."""
    parts = [row["changes"]] if row["changes"] else []
    if _present(row["reason"]):
        status = f"HTTP {row['http_status']}: " if _present(row["http_status"]) else ""
        parts.append(f"{status}{row['reason']}")
    return "; ".join(parts)


# -- run ------------------------------------------------------------------------------------------------------
def _run(args: argparse.Namespace, area: StagingArea) -> str:
    from ml_connector.audit.query import run_report

    if (args.run_id is None) != args.last:
        raise ValueError("give a RUN_ID or --last (with --dag DAG_ID for the newest run of one DAG)")
    report = run_report(area, args.run_id, dag_id=args.dag_id, last=args.last, entity=args.entity)
    if args.format == "json":
        return _json(report.to_dict())
    if args.format == "csv":
        return _csv(RUN_CSV_COLUMNS, run_csv_rows(report))
    return run_table(report)


def run_csv_rows(report: RunReport) -> list[dict[str, Any]]:
    """The report as flat rows: the run itself, its counts, tasks, problem records and incidents."""
    from ml_connector.audit.query import records

    run = {"key": report.run_id, "action": report.status, "tokens": report.tokens, "reason": report.reason}
    rows: list[dict[str, Any]] = [{"section": "run", "ts": _iso(report.finished), **run}]
    for kind, counts in report.counts.items():
        rows += [{"section": "count", "kind": kind, "key": name, "count": n} for name, n in counts.items()]
    sections = (
        ("task", report.tasks),
        ("problem", report.problems),
        ("rate_limit", report.rate_limits),
        ("token_refresh", report.token_refreshes),
    )
    for section, frame in sections:
        rows += [{"section": section, **row} for row in records(frame)]
    return rows


# Each section of the run table: title, the report's frame, and (header, column) pairs.
_RUN_SECTIONS = (
    (
        "Tasks",
        "tasks",
        (
            ("task", "task_id"),
            ("try", "try_number"),
            ("result", "action"),
            ("tokens", "tokens"),
            ("reason", "reason"),
        ),
    ),
    (
        "Records to look at (rejected, conflict, failed)",
        "problems",
        (
            ("ts", "ts"),
            ("kind", "kind"),
            ("workday_id", "key"),
            ("pipedrive_id", "pipedrive_id"),
            ("action", "action"),
            ("changes / reason", "what"),
        ),
    ),
    (
        "Rate limits",
        "rate_limits",
        (
            ("ts", "ts"),
            ("task", "task_id"),
            ("route", "key"),
            ("limit", "action"),
            ("http_status", "http_status"),
            ("wait_s", "wait_s"),
            ("system", "system"),
        ),
    ),
    (
        "Token refreshes",
        "token_refreshes",
        (
            ("ts", "ts"),
            ("task", "task_id"),
            ("connection", "key"),
            ("result", "action"),
            ("system", "system"),
            ("reason", "reason"),
        ),
    ),
)


def run_table(report: RunReport) -> str:
    lines = [_run_head(report), ""]
    if report.counts:
        names = list(next(iter(report.counts.values())))
        lines += [table(["kind", *names], [[k, *c.values()] for k, c in report.counts.items()]), ""]
    for title, attribute, spec in _RUN_SECTIONS:
        frame: pd.DataFrame = getattr(report, attribute)
        rows = [[_value(row, column) for _, column in spec] for row in frame.to_dict("records")]
        lines += _section(title, [header for header, _ in spec], rows)
    return "\n".join(lines).rstrip()


def _value(row: dict[Any, Any], column: str) -> Any:
    if column == "ts":
        return _when(row["ts"])
    return _what(row) if column == "what" else row[column]


def _run_head(report: RunReport) -> str:
    of = f" of {report.dag_id}" if report.dag_id else ""
    entity = f" ({report.entity})" if report.entity else ""
    window = report.window
    facts = [
        f"Run {report.run_id}{of}{entity}: {report.status}"
        + (f" ({report.reason})" if report.reason else ""),
        f"  window    {window.get('start', '?')} → {window.get('end', '?')}"
        if window
        else "  window    unknown",
        f"  mode      {report.mode or 'unknown'}" + ("; dry run" if report.dry_run else ""),
        f"  tokens    {_num(report.tokens)}" + _budget_note(report.daily_budget, report.daily_tokens_left),
        f"  requests  {_num(report.requests)}; duration {_seconds(report.duration_s)}",
        f"  ledger    {_when(report.started)} to {_when(report.finished)} UTC",
    ]
    return "\n".join(facts)


def _seconds(value: float | None) -> str:
    return f"{value:,.1f} s" if value is not None else "unknown"


def _budget_note(budget: int | None, left: int | None) -> str:
    if budget is None and left is None:
        return ""
    return f" (daily budget {_num(budget)}, {_num(left)} left)"


def _section(title: str, columns: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return [f"{title}: none", ""]
    return [f"{title} ({len(rows)})", table(columns, rows), ""]


# -- usage ----------------------------------------------------------------------------------------------------
def _usage(args: argparse.Namespace, area: StagingArea) -> str:
    from ml_connector.audit.query import usage

    report = usage(area, days=args.days, budget=args.budget, entity=args.entity)
    if args.plot is not None:
        from ml_connector.audit.plot import usage_chart

        usage_chart(report, args.plot)
    if args.format == "json":
        return _json(report.to_dict())
    if args.format == "csv":
        return _csv(USAGE_CSV_COLUMNS, [{**row, "daily_budget": report.budget} for row in report.rows()])
    plotted = f"\nchart written to {args.plot}" if args.plot is not None else ""
    return usage_table(report) + plotted


def usage_table(report: UsageReport) -> str:
    budget = f"daily budget {report.budget:,}" if report.budget is not None else "daily budget unknown"
    head = f"Pipedrive tokens per UTC day, {report.start} to {report.end}; {budget}"
    rows = [
        [day.isoformat(), *spent.values(), total, _share(total, report.budget)]
        for day, spent, total in zip(report.days, report.by_day(), report.totals(), strict=True)
    ]
    rows.append(["total", *report.per_dag().values(), report.total(), ""])
    peak = report.peak()
    pct = report.peak_pct()
    peak_line = (
        f"Peak: {peak[0]}, {peak[1]:,} tokens"
        + (f" ({pct:.1f}% of the daily budget)" if pct is not None else "")
        if peak
        else "Peak: no tokens spent"
    )
    incidents = ", ".join(f"{action} {n}" for action, n in report.rate_limits.items())
    body = table(["day", *report.dags, "total", "of budget"], rows)
    return "\n".join(
        [head, body, "", peak_line, f"Rate-limit incidents: {incidents}", _sentence(report.projection())]
    )


def _share(tokens: int, budget: int | None) -> str:
    return f"{100.0 * tokens / budget:.1f}%" if budget else ""


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


# -- output ---------------------------------------------------------------------------------------------------
def table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Left-aligned text columns, missing values blank."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = [list(columns), *cells]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def _cell(value: Any) -> str:
    from ml_connector.audit.query import jsonable

    value = jsonable(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _num(value: float | None) -> str:
    if value is None:
        return "unknown"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def _present(value: Any) -> bool:
    from ml_connector.audit.query import jsonable

    return jsonable(value) not in (None, "")


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if _present(value) else ""


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _csv(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    """Fixed columns; a list (field names) as ``a;b``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ";".join(map(str, v)) if isinstance(v, list) else v for k, v in row.items()})
    return buffer.getvalue()
