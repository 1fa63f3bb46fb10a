"""The loader's state between runs: identity maps, last-pushed values, carried-over rows, the write journal.

Layout under the staging root (``state/`` is never removed by retention):

- ``state/organizations/identity.parquet``, ``state/persons/identity.parquet``: ``key -> pipedrive_id``,
  shared by both DAGs (a company that is customer and supplier is one organization).
- ``state/<entity>/pushed_organizations.parquet``, ``pushed_persons.parquet``: what this DAG last wrote,
  what the next run diffs against (:mod:`ml_connector.load.pushed`).
- ``state/<entity>/deferred.parquet``: transformed rows not written yet (budget, missing organization,
  conflict, failed write) with the reason; the next run takes them first.
- ``state/<entity>/journal/<run>.jsonl``: one fsync'd line per successful write of a load in progress;
  its presence means a load did not finish.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from ml_connector.load.plan import PlannedOp, Row
from ml_connector.staging.area import StagingArea
from ml_connector.staging.canonical import canonical_json
from ml_connector.staging.files import StateFiles
from ml_connector.vocabulary import RECORD_KINDS, RecordKind

PLAN_SCHEMA = pa.schema(
    [
        ("entity", pa.string()),
        ("key", pa.string()),
        ("action", pa.string()),
        ("pipedrive_id", pa.int64()),
        ("changes", pa.string()),
        ("reason", pa.string()),
    ]
)
IDENTITY_SCHEMA = pa.schema([("key", pa.string()), ("pipedrive_id", pa.int64())])
DEFERRED_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),
        ("key", pa.string()),
        ("org_key", pa.string()),
        ("values", pa.string()),
        ("content_hash", pa.string()),
        ("active", pa.bool_()),
        ("source_ids", pa.string()),
        ("reason", pa.string()),
    ]
)


# -- transformed rows ----------------------------------------------------------------------------------------
def rows_from_table(kind: RecordKind, table: pa.Table) -> list[Row]:
    """Rows of ``transformed_organizations``/``transformed_persons`` (or the deferred file)."""
    columns = set(table.column_names)
    rows: list[Row] = []
    for rec in table.to_pylist():
        rows.append(
            Row(
                kind=kind,
                key=str(rec["key"]),
                values=json.loads(rec["values"]),
                content_hash=str(rec.get("content_hash") or ""),
                active=bool(rec["active"]) if "active" in columns and rec["active"] is not None else True,
                org_key=rec.get("org_key") if kind == "person" else None,
                source_ids=str(rec.get("source_ids") or ""),
            )
        )
    return rows


# -- identity -----------------------------------------------------------------------------------------------
def read_identity(area: StagingArea, kind: RecordKind) -> dict[str, int]:
    path = StateFiles(area).identity_path(kind)
    if not path.exists():
        return {}
    table = area.read_table(path)
    return {
        str(k): int(v)
        for k, v in zip(table["key"].to_pylist(), table["pipedrive_id"].to_pylist(), strict=True)
    }


def write_identity(area: StagingArea, kind: RecordKind, identity: Mapping[str, int]) -> None:
    keys = sorted(identity)
    table = pa.table({"key": keys, "pipedrive_id": [identity[k] for k in keys]}, schema=IDENTITY_SCHEMA)
    area.write_table(StateFiles(area).identity_path(kind), table)


# -- carried-over rows ----------------------------------------------------------------------------------------
def read_deferred(area: StagingArea, entity: str) -> dict[RecordKind, list[Row]]:
    path = StateFiles(area).deferred_path(entity)
    out: dict[RecordKind, list[Row]] = {"organization": [], "person": []}
    if not path.exists():
        return out
    table = area.read_table(path)
    for kind in out:
        mask = [k == kind for k in table["kind"].to_pylist()]
        out[kind] = rows_from_table(kind, table.filter(pa.array(mask, type=pa.bool_())))
    return out


def write_deferred(area: StagingArea, entity: str, ops: Iterable[PlannedOp]) -> int:
    """Replace the carried-over rows with the ``ops`` that still need writing; returns how many."""
    records = [
        {
            "kind": op.kind,
            "key": op.key,
            "org_key": op.row.org_key,
            "values": canonical_json(dict(op.row.values)),
            "content_hash": op.row.content_hash,
            "active": op.row.active,
            "source_ids": op.row.source_ids,
            "reason": op.reason,
        }
        for op in ops
        if op.row is not None
    ]
    path = StateFiles(area).deferred_path(entity)
    if records or path.exists():
        area.write_table(path, pa.Table.from_pylist(records, schema=DEFERRED_SCHEMA))
    return len(records)


# -- the journal ----------------------------------------------------------------------------------------------
# -- after a load ----------------------------------------------------------------------------------------------
def merged_identity(
    on_disk: Mapping[str, int], ours: Mapping[str, int], *, listed: bool, forgotten: Iterable[str] = ()
) -> dict[str, int]:
    """The identity map to save after a load. A load that listed Pipedrive knows the whole truth; one
    that did not lays its keys over the file as it is now (the other DAG may have added keys since it
    was read), without the keys whose records turned out deleted."""
    if listed:
        return dict(ours)
    gone = set(forgotten)
    return {key: pid for key, pid in {**on_disk, **ours}.items() if key not in gone}


def save_after_load(
    area: StagingArea,
    entity: str,
    *,
    identity: Mapping[RecordKind, Mapping[str, int]],
    listed: Mapping[RecordKind, bool],
    forgotten: Mapping[RecordKind, Iterable[str]],
    carried: Iterable[PlannedOp],
) -> None:
    """Identity, then the carried-over rows (the journals are dropped after this); the pushed values are
    :class:`ml_connector.load.pushed.PushedValues`'s to save."""
    for kind in RECORD_KINDS:
        on_disk = read_identity(area, kind) if not listed[kind] else {}
        write_identity(
            area,
            kind,
            merged_identity(on_disk, identity[kind], listed=listed[kind], forgotten=forgotten[kind]),
        )
    write_deferred(area, entity, carried)


def plan_table(ops: Iterable[PlannedOp]) -> pa.Table:
    """The run's ``plan.parquet``: one row per record decision, with field-level before -> after."""
    return pa.Table.from_pylist(
        [
            {
                "entity": op.kind,
                "key": op.key,
                "action": op.action,
                "pipedrive_id": op.pipedrive_id,
                "changes": canonical_json([c.to_json() for c in op.changes]),
                "reason": op.reason,
            }
            for op in ops
        ],
        schema=PLAN_SCHEMA,
    )


@dataclass(frozen=True)
class JournalEntry:
    run_id: str
    kind: RecordKind
    key: str
    action: str
    pipedrive_id: int
    content_hash: str
    values: dict[str, Any]

    def to_line(self) -> str:
        return canonical_json(
            {
                "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "run_id": self.run_id,
                "kind": self.kind,
                "key": self.key,
                "action": self.action,
                "pipedrive_id": self.pipedrive_id,
                "content_hash": self.content_hash,
                "values": self.values,
            }
        )

    @classmethod
    def from_line(cls, line: str) -> JournalEntry:
        data = json.loads(line)
        return cls(
            run_id=str(data["run_id"]),
            kind=data["kind"],
            key=str(data["key"]),
            action=str(data["action"]),
            pipedrive_id=int(data["pipedrive_id"]),
            content_hash=str(data.get("content_hash") or ""),
            values=dict(data["values"]),
        )


class Journal:
    """The write journal of one load: appended (fsync'd, thread-safe) right after each successful write."""

    def __init__(self, area: StagingArea, entity: str, run_id: str) -> None:
        self.area = area
        self.entity = entity
        self.run_id = run_id
        self.path = StateFiles(area).journal_path(entity, run_id)

    def append(self, entry: JournalEntry) -> None:
        self.area.append_line(self.path, entry.to_line())

    def pending(self) -> tuple[list[JournalEntry], list[Any]]:
        """Entries of every unfinished load of this entity (this run's and earlier ones) and their files."""
        directory = StateFiles(self.area).journal_dir(self.entity)
        if not directory.exists():
            return [], []
        files = sorted((p for p in directory.iterdir() if p.name.endswith(".jsonl")), key=lambda p: p.name)
        # Folded in the order the writes happened (each line carries its time), not by file name: a manual
        # run's journal must not replay over a later scheduled run's.
        lines = [line for path in files for line in self.area.read_lines(path)]
        lines.sort(key=lambda line: str(json.loads(line).get("ts", "")))
        return [JournalEntry.from_line(line) for line in lines], files

    def close(self, files: Iterable[Any]) -> None:
        """Drop journals whose writes are now in the state files (and this run's own)."""
        for path in [*files, self.path]:
            self.area.delete(path)
