"""The ledger: one Parquet row per record outcome, incident, token refresh, task and run, kept for months.

Layout under the staging root (apart from ``runs/`` so that staging retention never removes it)::

    ledger/<entity>/<YYYY-MM-DD>/<run>--<task>.parquet   one file per task of a run (the day it ran)
    ledger/<entity>/month-<YYYY-MM>.parquet             older days, compacted into one file per month

Every file has :data:`LEDGER_SCHEMA`; any Parquet reader takes the whole folder
(``pandas.read_parquet(root + "/ledger")``). :func:`read_ledger` also reads files of older versions of
the schema. Rows carry keys, ids, field names and the values of company master data; never a person's
values and never a credential.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ml_connector.staging.area import StagingArea, safe_segment
from ml_connector.staging.spool import Spool

log = logging.getLogger(__name__)

LEDGER_SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("us", tz="UTC")),  # when it happened
        ("dag_id", pa.string()),
        ("run_id", pa.string()),
        ("task_id", pa.string()),
        ("try_number", pa.int32()),
        ("mapping_hash", pa.string()),  # the mapping file's content, hashed (which rules were applied)
        ("entity", pa.string()),  # customers | suppliers
        ("kind", pa.string()),  # organization | person | rate_limit | token_refresh | task | run
        ("key", pa.string()),  # Workday ID; the route, connection or run id for the other kinds
        ("pipedrive_id", pa.int64()),
        ("action", pa.string()),  # see ACTIONS
        ("fields_changed", pa.list_(pa.string())),
        ("changes", pa.string()),  # JSON [{field, before, after}]; a person's values are never kept
        ("reason", pa.string()),
        ("system", pa.string()),  # workday | pipedrive, for incidents, refreshes and failures
        ("http_status", pa.int32()),
        ("wait_s", pa.float64()),  # a rate-limit incident's wait
        ("tokens", pa.int64()),  # a write's cost; a task's or run's spend
        ("daily_tokens_left", pa.int64()),
        ("daily_budget", pa.int64()),
        ("details", pa.string()),  # JSON: a run's window, mode, counts, requests, duration
        ("dry_run", pa.bool_()),
    ]
)
COLUMNS = LEDGER_SCHEMA.names

RECORD_KINDS = ("organization", "person")
# What each kind's ``action`` can be.
ACTIONS = {
    "organization": (
        "create",
        "update",
        "unchanged",
        "skip",
        "rejected",
        "conflict",
        "merge",
        "deferred",
        "failed",
        "adopted",
        "budget_exhausted",
    ),
    "rate_limit": ("burst", "daily", "edge", "reserve"),
    "token_refresh": ("refreshed", "rejected", "failed"),
    "task": ("success", "failed"),
    "run": ("success", "incomplete", "deferred"),
}
ACTIONS["person"] = ACTIONS["organization"]
WRITES = frozenset({"create", "update", "merge", "adopted"})
EVENTS = frozenset({"rate_limit", "token_refresh"})

COMPACT_AFTER_DAYS = 7  # per-task files of older days are folded into one file per month
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH = re.compile(r"^month-(\d{4}-\d{2})\.parquet$")


# -- paths --------------------------------------------------------------------------------------------------
def ledger_root(area: StagingArea) -> Any:
    return area.root / "ledger"


def part_name(run_id: str, task_id: str) -> str:
    return f"{safe_segment(run_id)}--{safe_segment(task_id)}.parquet"


def part_path(area: StagingArea, entity: str, day: date, run_id: str, task_id: str) -> Any:
    return ledger_root(area) / safe_segment(entity) / day.isoformat() / part_name(run_id, task_id)


def _folders(folder: Any) -> list[Any]:
    return (
        sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.name) if folder.exists() else []
    )


def _files(folder: Any) -> list[Any]:
    return (
        sorted((p for p in folder.iterdir() if p.is_file()), key=lambda p: p.name) if folder.exists() else []
    )


def day_parts(area: StagingArea, entity: str) -> Iterator[tuple[date, Any]]:
    """Every not yet compacted file of ``entity`` with its day."""
    for day_dir in _folders(ledger_root(area) / safe_segment(entity)):
        if _DAY.match(day_dir.name):
            day = date.fromisoformat(day_dir.name)
            yield from ((day, p) for p in _files(day_dir) if p.name.endswith(".parquet"))


def month_files(area: StagingArea, entity: str) -> dict[str, Any]:
    found = {}
    for path in _files(ledger_root(area) / safe_segment(entity)):
        if match := _MONTH.match(path.name):
            found[match.group(1)] = path
    return found


def entities(area: StagingArea) -> list[str]:
    return [p.name for p in _folders(ledger_root(area))]


# -- rows ---------------------------------------------------------------------------------------------------
def empty_row() -> dict[str, Any]:
    return dict.fromkeys(COLUMNS)


def to_table(rows: Iterable[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist([{**empty_row(), **row} for row in rows], schema=LEDGER_SCHEMA)


def conform(table: pa.Table) -> pa.Table:
    """A table of any earlier ledger schema, as :data:`LEDGER_SCHEMA` (missing columns empty)."""
    columns = []
    for name in COLUMNS:
        wanted = LEDGER_SCHEMA.field(name).type
        if name in table.column_names:
            columns.append(table.column(name).cast(wanted))
        else:
            columns.append(pa.nulls(table.num_rows, type=wanted))
    return pa.Table.from_arrays(columns, schema=LEDGER_SCHEMA)


def read_file(area: StagingArea, path: Any) -> pa.Table:
    return conform(area.read_table(path))


def read_ledger(
    area: StagingArea,
    *,
    entity: str | None = None,
    since: datetime | None = None,
    where: pc.Expression | None = None,
) -> pd.DataFrame:
    """Every ledger row (of one entity, or all; from ``since`` on; matching ``where``, a pyarrow
    expression applied file by file so that only the matching rows are ever held together), as a
    DataFrame with :data:`LEDGER_SCHEMA`'s columns, oldest first. Empty (with the columns) when none."""
    try:
        table = _read_tables(area, entity, since, where)
    except FileNotFoundError:  # a compaction folded a listed file away meanwhile: list again
        table = _read_tables(area, entity, since, where)
    frame = table.to_pandas(types_mapper=_types)
    if since is not None:
        frame = frame[frame["ts"] >= pd.Timestamp(since)]
    result: pd.DataFrame = frame.sort_values("ts", kind="stable").reset_index(drop=True)
    return result


def _read_tables(
    area: StagingArea, entity: str | None, since: datetime | None, where: pc.Expression | None
) -> pa.Table:
    tables = []
    for name in [entity] if entity else entities(area):
        first_month = since.strftime("%Y-%m") if since else ""
        paths = [path for month, path in month_files(area, name).items() if month >= first_month]
        paths += [path for day, path in day_parts(area, name) if since is None or day >= since.date()]
        for path in paths:
            table = read_file(area, path)
            tables.append(table.filter(where) if where is not None else table)
    return pa.concat_tables(tables) if tables else LEDGER_SCHEMA.empty_table()


def _types(arrow_type: pa.DataType) -> Any:
    """Nullable pandas types, so an absent id stays <NA> instead of turning a column into floats."""
    if pa.types.is_integer(arrow_type):
        return pd.Int64Dtype()
    if pa.types.is_boolean(arrow_type):
        return pd.BooleanDtype()
    return None


# -- writing one task's rows ----------------------------------------------------------------------------------
def write_part(
    area: StagingArea,
    *,
    entity: str,
    run_id: str,
    task_id: str,
    rows: Spool | pa.Table | Sequence[dict[str, Any]],
    earlier: list[dict[str, Any]] | None = None,
) -> Any:
    """Write one task attempt's rows, replacing what earlier attempts of the same task left.

    From an earlier attempt only what this one cannot know is kept: its rate-limit incidents, token
    refreshes and its own ``task`` row (they happened, and its tokens were spent), and the writes it made
    that this attempt does not repeat (an attempt that created a record and then failed leaves the record
    ``unchanged`` for the next attempt, whose ``unchanged`` row is then dropped). ``earlier`` is what the
    earlier attempts left, read before this attempt first wrote (default: read now). ``rows`` may be a
    :class:`~ml_connector.staging.spool.Spool`: a load's hundreds of thousands of rows are streamed to the
    file a batch at a time, never held together. Returns the path written."""
    current = _batch_source(rows)
    if earlier is None:
        earlier = earlier_rows(area, entity, run_id, task_id)
    kept: list[dict[str, Any]] = []
    written_before: set[tuple[str, str]] = set()
    if earlier:
        wrote = {
            (r["kind"], r["key"], r["action"], r["pipedrive_id"]) for r in earlier if r["action"] in WRITES
        }
        done: set[tuple[Any, ...]] = set()
        tries: set[Any] = set()
        for batch in current():
            columns = [batch.column(c).to_pylist() for c in ("kind", "key", "action", "pipedrive_id")]
            done.update(row for row in zip(*columns, strict=True) if row in wrote)
            if not tries:
                tries.update(batch.column("try_number").drop_null().to_pylist()[:1])
        this_try = next(iter(tries), None)
        kept = [
            r
            for r in earlier
            if r["kind"] in EVENTS
            or (r["kind"] == "task" and r["try_number"] != this_try)
            or (r["action"] in WRITES and (r["kind"], r["key"], r["action"], r["pipedrive_id"]) not in done)
        ]
        written_before = {(r["kind"], r["key"]) for r in kept if r["action"] in WRITES}
    path = part_path(area, entity, datetime.now(UTC).date(), run_id, task_id)
    with area.table_writer(path, LEDGER_SCHEMA) as out:
        if kept:
            out.write_table(to_table(kept))
        for batch in current():
            table = pa.Table.from_batches([batch], schema=LEDGER_SCHEMA)
            if written_before:
                table = table.filter(pc.invert(_repeats(table, written_before)))
            out.write_table(table)
    for _, old in day_parts(area, entity):
        if old.name == path.name and old != path:
            area.delete(old)  # an attempt on an earlier day: its rows are in the new file now
    return path


def _batch_source(
    rows: Spool | pa.Table | Sequence[dict[str, Any]],
) -> Callable[[], Iterator[pa.RecordBatch]]:
    """``rows`` as something read from the start each time it is called (:func:`write_part` reads twice)."""
    if isinstance(rows, Spool):
        return rows.batches
    table = rows if isinstance(rows, pa.Table) else to_table(rows)
    return lambda: iter(conform(table).to_batches())


def _repeats(table: pa.Table, written_before: set[tuple[str, str]]) -> pa.Array:
    """Which rows are an ``unchanged`` of a record an earlier attempt wrote."""
    columns = zip(*(table.column(c).to_pylist() for c in ("kind", "key", "action")), strict=True)
    return pa.array([a == "unchanged" and (k, key) in written_before for k, key, a in columns], pa.bool_())


def outlives_a_retry() -> pc.Expression:
    """The rows of an attempt a later attempt keeps or needs (:func:`write_part`): its incidents, token
    refreshes, ``task`` rows and writes. Its ``unchanged`` and other rows are replaced, so a retry of a
    large load never reads them."""
    return pc.field("kind").isin(sorted(EVENTS | {"task"})) | pc.field("action").isin(sorted(WRITES))


def earlier_rows(area: StagingArea, entity: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
    """The rows earlier attempts of one task left (not yet compacted) that a retry keeps or needs
    (:func:`outlives_a_retry`)."""
    name = part_name(run_id, task_id)
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for _, path in day_parts(area, entity):
        if path.name == name:  # two days hold one part only if a retry died between write and delete
            for row in read_file(area, path).filter(outlives_a_retry()).to_pylist():
                rows[(row["try_number"], row["ts"], row["kind"], row["key"], row["action"])] = row
    return list(rows.values())


def folded_rows(
    area: StagingArea, entity: str, run_id: str, task_id: str | None, run_started: datetime
) -> list[dict[str, Any]]:
    """What one task of a run (every task: ``task_id`` None) left in the monthly files: its part was
    compacted before this retry (a task cleared more than a week after its run). None when the run is
    too recent to have been compacted."""
    if run_started > datetime.now(UTC) - timedelta(days=COMPACT_AFTER_DAYS - 1):
        return []
    first = run_started.strftime("%Y-%m")
    mine = pc.field("run_id") == run_id
    if task_id is not None:
        mine = mine & (pc.field("task_id") == task_id)
    rows: list[dict[str, Any]] = []
    for month, path in month_files(area, entity).items():
        if month >= first:
            rows += read_file(area, path).filter(mine).to_pylist()
    return rows


def drop_folded(area: StagingArea, entity: str, run_id: str, task_id: str, run_started: datetime) -> int:
    """Remove one task's rows from the monthly files, once its retry has written them anew; call it
    under the ledger's lease (compaction rewrites the same files). Returns the rows removed."""
    first = run_started.strftime("%Y-%m")
    mine = (pc.field("run_id") == run_id) & (pc.field("task_id") == task_id)
    removed = 0
    for month, path in month_files(area, entity).items():
        if month < first:
            continue
        table = read_file(area, path)
        kept = table.filter(~mine)
        if kept.num_rows == table.num_rows:
            continue
        removed += table.num_rows - kept.num_rows
        if kept.num_rows:
            area.write_table(path, kept)
        else:
            area.delete(path)
    return removed


def run_rows(area: StagingArea, entity: str, run_id: str) -> list[dict[str, Any]]:
    """Every row the tasks of one run wrote so far (not yet compacted)."""
    prefix = f"{safe_segment(run_id)}--"
    rows: list[dict[str, Any]] = []
    for _, path in day_parts(area, entity):
        if path.name.startswith(prefix):
            rows += read_file(area, path).to_pylist()
    return rows


# -- retention and compaction ------------------------------------------------------------------------------
def compact(
    area: StagingArea,
    entity: str,
    *,
    retention_days: int,
    compact_after_days: int = COMPACT_AFTER_DAYS,
    now: datetime | None = None,
) -> tuple[int, int]:
    """Fold the per-task files of days older than ``compact_after_days`` into one file per month and drop
    rows older than ``retention_days``; returns (files folded, rows dropped).

    Each month file is written whole before the files it replaces are deleted, so a reader never misses
    a row; one that lists the folder between the two steps may see a day twice, which
    :func:`read_ledger` cannot tell apart, so compaction runs under the ledger's lease (the caller's)."""
    now = now or datetime.now(UTC)
    keep_from = (now - timedelta(days=retention_days)).date()
    fold_before = (now - timedelta(days=compact_after_days)).date()
    by_month: dict[str, list[Any]] = {}
    for day, path in day_parts(area, entity):
        if day < fold_before:
            by_month.setdefault(day.strftime("%Y-%m"), []).append(path)
    months = month_files(area, entity)
    dropped = folded = 0
    oldest_kept = keep_from.strftime("%Y-%m")
    for month in sorted(set(by_month) | {m for m in months if m <= oldest_kept}):
        parts = by_month.get(month, [])
        tables = [read_file(area, p) for p in parts]
        if month in months:
            tables.insert(0, read_file(area, months[month]))
        table = pa.concat_tables(tables) if tables else LEDGER_SCHEMA.empty_table()
        cutoff = pa.scalar(
            datetime.combine(keep_from, datetime.min.time(), UTC), LEDGER_SCHEMA.field("ts").type
        )
        kept = table.filter(pc.greater_equal(table.column("ts"), cutoff))
        dropped += table.num_rows - kept.num_rows
        target = ledger_root(area) / safe_segment(entity) / f"month-{month}.parquet"
        if kept.num_rows == 0:
            area.delete(target)
        elif parts or kept.num_rows != table.num_rows:
            area.write_table(target, kept.sort_by("ts"))
        for part in parts:
            area.delete(part)
        folded += len(parts)
    for day_dir in _folders(ledger_root(area) / safe_segment(entity)):
        if _DAY.match(day_dir.name) and not _files(day_dir):
            day_dir.rmdir()
    if folded or dropped:
        log.info(
            "ledger of %s: %d file(s) compacted into monthly files, %d row(s) past retention removed",
            entity,
            folded,
            dropped,
        )
    return folded, dropped
