"""What the page shows, read from the ledger: the recent runs of each entity and one record's history.
Plain values only (strings, numbers, lists); escaping is the template's job."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
import pyarrow.compute as pc

from ml_connector.audit.ledger import RECORD_KINDS, read_ledger
from ml_connector.audit.query import COUNT_NAMES, NO_REPORT, details_of, record_history
from ml_connector.staging.area import StagingArea
from ml_connector.ui.access import dag_id_of

RECENT_RUNS = 10
# The run row's details carry the counts per kind under these names.
COUNT_KINDS = ("organizations", "persons")


@dataclass(frozen=True)
class TaskLog:
    task_id: str
    try_number: int | None
    action: str


@dataclass(frozen=True)
class RunRow:
    """One run, as a row of the recent-runs table."""

    dag_id: str
    run_id: str
    started: str
    finished: str
    status: str
    mode: str
    dry_run: bool
    window: str
    counts: dict[str, str]  # kind -> "created 3 · updated 1 · ..."
    requests: int | None
    tokens: int | None
    daily_tokens_left: int | None
    incidents: dict[str, int]  # rate-limit action -> count
    reason: str
    tasks: list[TaskLog] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class HistoryRow:
    """One ledger row of a record, as a row of the history table."""

    ts: str
    dag_id: str
    entity: str
    run_id: str
    try_number: int | None
    kind: str
    key: str
    pipedrive_id: int | None
    action: str
    changes: str
    reason: str
    http_status: int | None
    tokens: int | None
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- recent runs ----------------------------------------------------------------------------------------------
def recent_runs(area: StagingArea, entity: str, *, limit: int = RECENT_RUNS) -> list[RunRow]:
    """The ``limit`` runs of ``entity``'s DAG that started last, newest first."""
    dag_id = dag_id_of(entity)
    not_records = ~pc.field("kind").isin(list(RECORD_KINDS))
    rows = read_ledger(area, entity=entity, where=not_records & (pc.field("dag_id") == dag_id))
    runs = rows[rows["kind"].isin(("task", "run")) & rows["run_id"].notna()]
    if runs.empty:
        return []
    starts = runs.groupby("run_id")["ts"].min().sort_values(ascending=False, kind="stable")
    return [_run_row(dag_id, str(run_id), rows[rows["run_id"] == run_id]) for run_id in starts.index[:limit]]


def _run_row(dag_id: str, run_id: str, rows: pd.DataFrame) -> RunRow:
    run_rows = rows[rows["kind"] == "run"]
    run = run_rows.iloc[-1] if not run_rows.empty else None
    details = details_of(run["details"]) if run is not None else {}
    tasks = rows[rows["kind"] == "task"]
    incidents = Counter(str(a) for a in rows.loc[rows["kind"] == "rate_limit", "action"])
    return RunRow(
        dag_id=dag_id,
        run_id=run_id,
        started=when(rows["ts"].min()),
        finished=when(run["ts"]) if run is not None else "",
        status=str(run["action"]) if run is not None else NO_REPORT,
        mode=str(details.get("mode") or ""),
        dry_run=bool(details.get("dry_run")) or bool(rows["dry_run"].fillna(False).any()),
        window=_window(details.get("window")),
        counts={
            kind: _counts(details.get(kind)) for kind in COUNT_KINDS if isinstance(details.get(kind), dict)
        },
        requests=_int(details.get("requests")),
        tokens=_int(run["tokens"]) if run is not None else _int(tasks["tokens"].sum(min_count=1)),
        daily_tokens_left=_int(run["daily_tokens_left"]) if run is not None else None,
        incidents=dict(sorted(incidents.items())),
        reason=_text(run["reason"]) if run is not None else "",
        tasks=_task_logs(tasks),
    )


def _task_logs(tasks: pd.DataFrame) -> list[TaskLog]:
    """Each task's last attempt, in the order the tasks ran."""
    last: dict[str, TaskLog] = {}
    for row in tasks.to_dict("records"):
        last.pop(str(row["key"]), None)  # re-inserted: a later attempt moves to its place in time
        last[str(row["key"])] = TaskLog(str(row["key"]), _int(row["try_number"]), str(row["action"]))
    return list(last.values())


def _counts(given: Any) -> str:
    """``{"created": 1, "read": 4, "updated": 0}`` as ``read 4 · created 1``: in the order of
    :class:`~ml_connector.audit.summary.KindCounts`, zeros left out."""
    order = {name: n for n, name in enumerate(COUNT_NAMES)}
    names = sorted(given, key=lambda name: (order.get(name, len(order)), name))
    return " · ".join(
        f"{name} {int(given[name])}" for name in names if isinstance(given[name], int | float) and given[name]
    )


def _window(value: Any) -> str:
    """The run's update window, ``05-04 06:00 → 05-05 06:00`` (UTC), or ``full scan to ...``."""
    if not isinstance(value, dict) or not value.get("end"):
        return ""
    end = when(value["end"], "%m-%d %H:%M")
    return f"{when(value['start'], '%m-%d %H:%M')} → {end}" if value.get("start") else f"full scan to {end}"


# -- a record's history ---------------------------------------------------------------------------------------
def history(area: StagingArea, ident: str, entities: list[str]) -> list[HistoryRow]:
    """Every row of the record ``ident`` (a Workday or Pipedrive ID) in the DAGs of ``entities``, newest
    first. :class:`ValueError` (its message says what to check) when there is none."""
    dag_ids = {dag_id_of(entity) for entity in entities}
    frame = record_history(area, ident)
    frame = frame[frame["dag_id"].isin(dag_ids)]
    if frame.empty:  # only in DAGs this user may not read: say no more than for an unknown ID
        raise ValueError(f"no history for {ident.strip()} in the DAGs you may read")
    return [
        HistoryRow(
            ts=when(row["ts"]),
            dag_id=str(row["dag_id"]),
            entity=_text(row["entity"]),
            run_id=str(row["run_id"]),
            try_number=_int(row["try_number"]),
            kind=str(row["kind"]),
            key=str(row["key"]),
            pipedrive_id=_int(row["pipedrive_id"]),
            action=str(row["action"]),
            changes=_text(row["changes"]),
            reason=_text(row["reason"]),
            http_status=_int(row["http_status"]),
            tokens=_int(row["tokens"]),
            dry_run=bool(_int(row["dry_run"])),
        )
        for row in frame.to_dict("records")
    ]


# -- values out of pandas -------------------------------------------------------------------------------------
def _missing(value: Any) -> bool:
    return (
        value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))
    )


def _int(value: Any) -> int | None:
    return None if _missing(value) else int(value)


def _text(value: Any) -> str:
    return "" if _missing(value) else str(value)


def when(value: Any, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A timestamp as ``2026-05-04 06:00:12`` (UTC; or as ``fmt`` says), or ``""``."""
    if _missing(value) or value == "":
        return ""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC")
    return stamp.strftime(fmt)
