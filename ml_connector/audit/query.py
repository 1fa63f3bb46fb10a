"""The questions people ask the ledger: what happened to one record, what one run did, and how many
Pipedrive tokens the syncs spend. Pure functions over :func:`~ml_connector.audit.ledger.read_ledger`;
:mod:`.cli` prints the answers and the UI page shows them.

A question that has no answer (an ID or run the ledger does not know) raises :class:`ValueError` with
a message that says what to check; nothing here writes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
import pyarrow.compute as pc

from ml_connector.audit.ledger import ACTIONS, RECORD_KINDS, read_ledger
from ml_connector.audit.summary import COUNTER, KindCounts
from ml_connector.staging.area import StagingArea

# What a person wants to see of a record's row, in this order (the JSON and CSV column names).
HISTORY_COLUMNS = (
    "ts",
    "dag_id",
    "run_id",
    "try_number",
    "entity",
    "kind",
    "key",
    "pipedrive_id",
    "action",
    "fields_changed",
    "changes",
    "reason",
    "http_status",
    "tokens",
    "dry_run",
)
# A run's rows a person has to look at: records that did not make it, and why.
PROBLEM_ACTIONS = ("rejected", "conflict", "failed")
NO_REPORT = "no report (did the run finish?)"
COUNT_NAMES = tuple(KindCounts.model_fields)
# The run row's details name its counts per kind in the plural.
_DETAIL_KINDS = {"organization": "organizations", "person": "persons"}


def _where(root: StagingArea) -> str:
    return f"the ledger under {root.root}"


# -- a record's history ---------------------------------------------------------------------------------------
def record_history(area: StagingArea, ident: str, *, entity: str | None = None) -> pd.DataFrame:
    """Every row of one record across runs, newest first, with :data:`HISTORY_COLUMNS`.

    ``ident`` is a Workday ID (``CUS-001042``) or a Pipedrive ID: digits match every Workday ID that
    ever had that Pipedrive ID (a record re-created or merged in Pipedrive keeps its whole story), and
    also a Workday ID made of digits."""
    ident = ident.strip()
    records = pc.field("kind").isin(list(RECORD_KINDS))
    keys = {ident}
    if ident.isdigit():  # first the Workday IDs that ever had this Pipedrive ID, then all their rows
        had = read_ledger(area, entity=entity, where=records & (pc.field("pipedrive_id") == int(ident)))
        keys |= {str(k) for k in had["key"].dropna()}
    rows = read_ledger(area, entity=entity, where=records & pc.field("key").isin(sorted(keys)))
    hits = rows["key"] == ident
    if ident.isdigit():
        same_id = rows["pipedrive_id"].eq(int(ident)).fillna(False).astype(bool)
        hits = hits | _same_record(rows, rows[same_id])
    found = rows[hits.fillna(False).astype(bool)]
    if found.empty:
        raise ValueError(
            f"no history for {ident} in {_where(area)}: check the ID (a Workday ID such as CUS-001042 or "
            "a Pipedrive ID) and that this is the staging root the DAGs write to"
        )
    return history_frame(found)


def _same_record(rows: pd.DataFrame, matched: pd.DataFrame) -> pd.Series:
    """Which of ``rows`` belong to a (kind, key) of ``matched``."""
    pairs = set(zip(matched["kind"], matched["key"], strict=True))
    return pd.Series(
        [pair in pairs for pair in zip(rows["kind"], rows["key"], strict=True)], index=rows.index
    )


def history_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Record rows, newest first, with their changes as text and field names as lists."""
    out = rows.sort_values("ts", ascending=False, kind="stable").reset_index(drop=True)
    out["changes"] = [render_changes(raw) for raw in out["changes"]]
    out["fields_changed"] = [_names(value) for value in out["fields_changed"]]
    return out.loc[:, list(HISTORY_COLUMNS)]


def _names(value: Any) -> list[str]:
    return [] if _missing(value) else [str(v) for v in value]


def render_changes(raw: Any) -> str:
    """``[{"field": "payment_terms", "before": "NET30", "after": "NET45"}, ...]`` as
    ``payment_terms: NET30 → NET45``; a person's fields (kept without values) as ``(personal, changed)``."""
    if not isinstance(raw, str) or not raw:
        return ""
    try:
        changes = json.loads(raw)
    except ValueError:
        return raw  # not ours to fix here: show what is there
    if not isinstance(changes, list):
        return raw
    return "; ".join(_render_change(c) for c in changes if isinstance(c, dict))


def _render_change(change: dict[str, Any]) -> str:
    name = change.get("field", "?")
    if change.get("personal"):
        return f"{name}: (personal, changed)"
    return f"{name}: {_show(change.get('before'))} → {_show(change.get('after'))}"


def _show(value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


# -- one run --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunReport:
    """What one run did: the ``run`` row's summary (or, without one, what its task and record rows say),
    the records a person has to look at, and the rate limits the run ran into."""

    run_id: str
    dag_id: str | None
    entity: str | None
    status: str  # the run row's action (success | incomplete | deferred), else NO_REPORT
    started: datetime | None  # the run's first ledger row
    finished: datetime | None  # its last
    window: dict[str, Any]
    mode: str | None
    dry_run: bool | None
    tokens: int | None
    requests: int | None
    duration_s: float | None
    daily_tokens_left: int | None
    daily_budget: int | None
    reason: str | None
    counts: dict[str, dict[str, int]]  # kind -> KindCounts field -> count
    tasks: pd.DataFrame = field(repr=False)  # one row per task: task_id, try_number, action, tokens, reason
    problems: pd.DataFrame = field(repr=False)  # rejected, conflict and failed records (HISTORY_COLUMNS)
    rate_limits: pd.DataFrame = field(repr=False)  # ts, task_id, key (the route), action, http_status, wait_s
    token_refreshes: pd.DataFrame = field(repr=False)  # ts, task_id, key (the connection), action, reason

    @property
    def reported(self) -> bool:
        return self.status != NO_REPORT

    def summary(self) -> dict[str, Any]:
        """The scalar facts, JSON-ready."""
        return {
            "run_id": self.run_id,
            "dag_id": self.dag_id,
            "entity": self.entity,
            "status": self.status,
            "started": _iso(self.started),
            "finished": _iso(self.finished),
            "window": self.window,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "tokens": self.tokens,
            "requests": self.requests,
            "duration_s": self.duration_s,
            "daily_tokens_left": self.daily_tokens_left,
            "daily_budget": self.daily_budget,
            "reason": self.reason,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "counts": self.counts,
            "tasks": records(self.tasks),
            "problems": records(self.problems),
            "rate_limits": records(self.rate_limits),
            "token_refreshes": records(self.token_refreshes),
        }


TASK_COLUMNS = ("ts", "task_id", "try_number", "action", "tokens", "daily_tokens_left", "reason")
RATE_LIMIT_COLUMNS = ("ts", "task_id", "key", "action", "http_status", "wait_s", "system")
REFRESH_COLUMNS = ("ts", "task_id", "key", "action", "system", "reason")


def run_report(
    area: StagingArea,
    run_id: str | None = None,
    *,
    dag_id: str | None = None,
    last: bool = False,
    entity: str | None = None,
) -> RunReport:
    """The report of ``run_id`` (of ``dag_id`` when run ids repeat across DAGs), or with ``last=True``
    of the newest run (of ``dag_id``)."""
    if (run_id is None) != last:
        raise ValueError("name a run id, or ask for the last run; not both and not neither")
    # the run, task and incident rows first (few); then the record rows of the one run asked for
    records = pc.field("kind").isin(list(RECORD_KINDS))
    rows = read_ledger(area, entity=entity, where=~records)
    if dag_id is not None:
        rows = rows[rows["dag_id"] == dag_id]
    if run_id is None:
        dag_id, run_id = _newest_run(area, rows, dag_id)
        rows = rows[rows["dag_id"] == dag_id]  # scheduled run ids repeat across DAGs
    ran = read_ledger(area, entity=entity, where=records & (pc.field("run_id") == run_id))
    if dag_id is not None:
        ran = ran[ran["dag_id"] == dag_id]
    rows = pd.concat([rows, ran]).sort_values("ts", kind="stable") if not ran.empty else rows
    mine = rows[rows["run_id"] == run_id]
    if mine.empty:
        of_dag = f" of DAG {dag_id}" if dag_id else ""
        raise ValueError(
            f"no run {run_id}{of_dag} in {_where(area)}: check the run id (as Airflow shows it) and the "
            "staging root; the ledger keeps runs only as long as its retention"
        )
    dags = sorted(str(d) for d in mine["dag_id"].dropna().unique())
    if len(dags) > 1:
        raise ValueError(f"run id {run_id} exists in several DAGs ({', '.join(dags)}): name the DAG (--dag)")
    return _report(run_id, mine)


def _newest_run(area: StagingArea, rows: pd.DataFrame, dag_id: str | None) -> tuple[str, str]:
    """The (DAG, run) that started last."""
    runs = rows[rows["kind"].isin(("task", "run")) & rows["run_id"].notna() & rows["dag_id"].notna()]
    if runs.empty:
        of_dag = f" of DAG {dag_id}" if dag_id else ""
        raise ValueError(f"no runs{of_dag} in {_where(area)}: check the DAG id and the staging root")
    starts = runs.groupby(["dag_id", "run_id"])["ts"].min().sort_values(kind="stable")
    dag, run = starts.index[-1]
    return str(dag), str(run)


def _report(run_id: str, rows: pd.DataFrame) -> RunReport:
    run_rows = rows[rows["kind"] == "run"]
    run = run_rows.iloc[-1] if not run_rows.empty else None
    details = details_of(run["details"]) if run is not None else {}
    tasks = rows[rows["kind"] == "task"]
    records_ = rows[rows["kind"].isin(RECORD_KINDS)]
    return RunReport(
        run_id=run_id,
        dag_id=_first(rows["dag_id"]),
        entity=_first(rows["entity"]),
        status=str(run["action"]) if run is not None else NO_REPORT,
        started=_timestamp(rows["ts"].min()),
        finished=_timestamp(rows["ts"].max()),
        window=details.get("window") or {},
        mode=details.get("mode"),
        dry_run=_dry_run(details, rows),
        tokens=_int(run["tokens"]) if run is not None else _sum(tasks["tokens"]),
        requests=_int(details.get("requests")),
        duration_s=_float(details.get("duration_s")),
        daily_tokens_left=_last_value(run_rows if run is not None else tasks, "daily_tokens_left"),
        daily_budget=_last_value(run_rows if run is not None else tasks, "daily_budget"),
        reason=_text(run["reason"]) if run is not None else None,
        counts=_counts_of(details) if run is not None else _counts_from_rows(records_),
        tasks=tasks.loc[:, list(TASK_COLUMNS)].reset_index(drop=True),
        problems=history_frame(records_[records_["action"].isin(PROBLEM_ACTIONS)]),
        rate_limits=_pick(rows, "rate_limit", RATE_LIMIT_COLUMNS),
        token_refreshes=_pick(rows, "token_refresh", REFRESH_COLUMNS),
    )


def _pick(rows: pd.DataFrame, kind: str, columns: tuple[str, ...]) -> pd.DataFrame:
    return rows.loc[rows["kind"] == kind, list(columns)].reset_index(drop=True)


def details_of(raw: Any) -> dict[str, Any]:
    """A row's ``details`` JSON as a dict (empty when absent or not an object)."""
    if not isinstance(raw, str) or not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _counts_of(details: dict[str, Any]) -> dict[str, dict[str, int]]:
    """The run row's counts per kind, every KindCounts field present."""
    counts: dict[str, dict[str, int]] = {}
    for kind, name in _DETAIL_KINDS.items():
        given = details.get(name)
        if isinstance(given, dict):
            counts[kind] = {c: int(given.get(c) or 0) for c in COUNT_NAMES}
    return counts


def _counts_from_rows(rows: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Counts a run without a report leaves in its record rows; ``read`` is the records with a row."""
    counts: dict[str, dict[str, int]] = {}
    for kind in RECORD_KINDS:
        mine = rows[rows["kind"] == kind]
        if mine.empty:
            continue
        tally = dict.fromkeys(COUNT_NAMES, 0)
        tally["read"] = int(mine["key"].nunique())
        for action, n in mine["action"].value_counts().items():
            if str(action) in COUNTER:
                tally[COUNTER[str(action)]] += int(n)
        counts[kind] = tally
    return counts


def _dry_run(details: dict[str, Any], rows: pd.DataFrame) -> bool | None:
    if isinstance(details.get("dry_run"), bool):
        return bool(details["dry_run"])
    flags = rows["dry_run"].dropna()
    return bool(flags.any()) if not flags.empty else None


# -- token usage ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UsageReport:
    """Pipedrive tokens the syncs spent per UTC day and DAG (the ``task`` rows' spend), against the
    daily budget, with the rate-limit incidents of the same days."""

    start: date
    end: date  # inclusive; today when the report was made
    tokens: pd.DataFrame = field(repr=False)  # index: every day start..end; columns: DAG ids; ints
    run_days: frozenset[date]  # days with at least one task row (a run happened)
    budget: int | None  # tokens per day; None when neither given nor in the ledger
    rate_limits: dict[str, int]  # incidents per action (burst, daily, edge, reserve)

    @property
    def days(self) -> list[date]:
        return list(self.tokens.index)

    @property
    def dags(self) -> list[str]:
        return [str(c) for c in self.tokens.columns]

    def totals(self) -> list[int]:
        """Tokens per day, all DAGs together, in the order of :attr:`days`."""
        return [int(v) for v in self.tokens.sum(axis=1)]

    def total(self) -> int:
        return sum(self.totals())

    def per_dag(self) -> dict[str, int]:
        return {dag: int(self.tokens[dag].sum()) for dag in self.dags}

    def peak(self) -> tuple[date, int] | None:
        """The day that spent most (the first of equal days); None when no day spent any."""
        totals = self.totals()
        if not totals or max(totals) == 0:
            return None
        best = max(range(len(totals)), key=lambda i: (totals[i], -i))
        return self.days[best], totals[best]

    def peak_pct(self) -> float | None:
        """The peak day's spend as a percentage of the daily budget."""
        peak = self.peak()
        return _pct(peak[1], self.budget) if peak else None

    def average(self) -> float | None:
        """Mean tokens over the days that had runs (days without runs would hide the rate)."""
        if not self.run_days:
            return None
        spent = sum(t for d, t in zip(self.days, self.totals(), strict=True) if d in self.run_days)
        return spent / len(self.run_days)

    def projection_pct(self) -> float | None:
        """At the average rate of a day with runs, the share of the daily budget a day uses."""
        average = self.average()
        return _pct(average, self.budget) if average is not None else None

    def projection(self) -> str:
        """The rate, in one sentence."""
        average, pct = self.average(), self.projection_pct()
        if average is None:
            return f"no runs between {self.start} and {self.end}"
        rate = f"{average:,.0f} tokens a day on the {len(self.run_days)} day(s) with runs"
        if pct is None:
            return f"{rate}; the daily budget is unknown (give it with --budget)"
        return f"at this rate ({rate}) the sync uses {pct:.1f}% of the daily budget of {self.budget:,}"

    def by_day(self) -> list[dict[str, int]]:
        """Per day (in the order of :attr:`days`): tokens per DAG."""
        return [
            {dag: int(v) for dag, v in zip(self.dags, row, strict=True)}
            for row in self.tokens.itertuples(index=False)
        ]

    def rows(self) -> list[dict[str, Any]]:
        """One row per day and DAG (long form, for CSV and charts)."""
        return [
            {"day": d.isoformat(), "dag_id": dag, "tokens": tokens}
            for d, spent in zip(self.days, self.by_day(), strict=True)
            for dag, tokens in spent.items()
        ]

    def to_dict(self) -> dict[str, Any]:
        peak = self.peak()
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "daily_budget": self.budget,
            "days": [
                {"day": d.isoformat(), "total": total, "by_dag": spent}
                for d, spent, total in zip(self.days, self.by_day(), self.totals(), strict=True)
            ],
            "per_dag": self.per_dag(),
            "total": self.total(),
            "peak": {"day": peak[0].isoformat(), "tokens": peak[1], "pct_of_budget": self.peak_pct()}
            if peak
            else None,
            "days_with_runs": len(self.run_days),
            "average_per_day_with_runs": self.average(),
            "projection_pct_of_budget": self.projection_pct(),
            "rate_limits": self.rate_limits,
        }


def usage(
    area: StagingArea,
    *,
    days: int = 30,
    budget: int | None = None,
    now: datetime | None = None,
    entity: str | None = None,
) -> UsageReport:
    """Token usage over the last ``days`` UTC days, today included. The budget is ``budget``, else the
    newest daily budget the ledger recorded in those days. Usage is the ``task`` rows' tokens only: a
    record row's tokens are already part of its load task's spend."""
    if days < 1:
        raise ValueError(f"days must be 1 or more, not {days}")
    end = (now or datetime.now(UTC)).astimezone(UTC).date()
    start = end - timedelta(days=days - 1)
    since = datetime.combine(start, time.min, UTC)
    not_records = ~pc.field("kind").isin(list(RECORD_KINDS))
    rows = read_ledger(area, entity=entity, since=since, where=not_records)
    rows = rows[rows["ts"] < pd.Timestamp(since + timedelta(days=days))]
    tasks = rows[rows["kind"] == "task"]
    task_days = [ts.date() for ts in tasks["ts"].dt.tz_convert("UTC")]
    return UsageReport(
        start=start,
        end=end,
        tokens=_daily_tokens(tasks, task_days, start, days),
        run_days=frozenset(task_days),
        budget=budget
        if budget is not None
        else _last_value(rows[rows["kind"].isin(("task", "run"))], "daily_budget"),
        rate_limits=_incidents(rows[rows["kind"] == "rate_limit"]),
    )


def _daily_tokens(tasks: pd.DataFrame, task_days: list[date], start: date, days: int) -> pd.DataFrame:
    """Tokens per day (every day of the period, also those without runs) and DAG."""
    index = pd.Index([start + timedelta(days=i) for i in range(days)], name="day")
    if tasks.empty:
        return pd.DataFrame(index=index)
    frame = pd.DataFrame(
        {
            "day": task_days,
            "dag_id": [str(d) for d in tasks["dag_id"].fillna("(unknown DAG)")],
            "tokens": [int(t) for t in tasks["tokens"].fillna(0)],
        }
    )
    table = frame.pivot_table(index="day", columns="dag_id", values="tokens", aggfunc="sum", fill_value=0)
    table = table.reindex(index=index, fill_value=0).sort_index(axis=1)
    table.columns = [str(c) for c in table.columns]
    return table.astype(int)


def _incidents(rows: pd.DataFrame) -> dict[str, int]:
    counts = dict.fromkeys(ACTIONS["rate_limit"], 0)
    for action, n in rows["action"].value_counts().items():
        counts[str(action)] = counts.get(str(action), 0) + int(n)
    return counts


def _pct(part: float, whole: int | None) -> float | None:
    return 100.0 * part / whole if whole else None


# -- values out of pandas -------------------------------------------------------------------------------------
def _missing(value: Any) -> bool:
    """None, pandas' NA or NaT, or a float NaN; never asks ``pd.isna`` about a list."""
    return (
        value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))
    )


def _int(value: Any) -> int | None:
    return None if _missing(value) else int(value)


def _float(value: Any) -> float | None:
    return None if _missing(value) else float(value)


def _text(value: Any) -> str | None:
    return None if _missing(value) else str(value)


def _sum(values: pd.Series) -> int | None:
    present = values.dropna()
    return int(present.sum()) if not present.empty else None


def _first(values: pd.Series) -> str | None:
    present = values.dropna()
    return str(present.iloc[0]) if not present.empty else None


def _last_value(rows: pd.DataFrame, column: str) -> int | None:
    """The newest non-empty value of ``column`` (rows are oldest first)."""
    present = rows[column].dropna()
    return int(present.iloc[-1]) if not present.empty else None


def _timestamp(value: Any) -> datetime | None:
    return None if _missing(value) else pd.Timestamp(value).to_pydatetime()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: ISO timestamps, None for missing values, lists for field names."""
    return [{str(name): jsonable(value) for name, value in row.items()} for row in frame.to_dict("records")]


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()  # numpy scalars and arrays
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return None if _missing(value) else value
