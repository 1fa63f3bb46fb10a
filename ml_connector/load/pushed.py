"""What this DAG last pushed to Pipedrive, per record kind: hashes in memory, values on disk.

A load compares every transformed row with what it last pushed. An unchanged row has the same content
hash (and, for a person, the same organization id), so its values are never read: the load holds one
32-byte digest per record, not a dict of its values. Only the rows whose hash differs have their
before-values read, in one pass over the file, for the field-level diff. At the end the file is rewritten
as a merge, a batch at a time: this load's writes replace their rows, the rest are copied as they were.

File: ``state/<entity>/pushed_<kind>s.parquet`` with ``key, content_hash, values`` (JSON) and, since
this module, ``org_id`` (a person's organization id; files without it are read from ``values``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from airflow.sdk import ObjectStoragePath

from ml_connector.load.plan import ORG_ID, Known
from ml_connector.staging.area import StagingArea
from ml_connector.staging.canonical import canonical_json
from ml_connector.vocabulary import RecordKind

PUSHED_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("content_hash", pa.string()),
        ("values", pa.string()),
        ("org_id", pa.int64()),
    ]
)


class PushedValues(MutableMapping[str, Known]):
    """One kind's pushed state during a load, as a mapping of key -> :class:`Known`.

    A key read from the file gives a ``Known`` whose ``values`` are None until :meth:`load_values` read
    them (its ``content_hash`` and ``org_id`` are always there); a key set during the load gives what was
    set. Deleting a key drops it from the file at :meth:`save`.
    """

    def __init__(self, kind: RecordKind, area: StagingArea, path: ObjectStoragePath) -> None:
        self.kind = kind
        self._area = area
        self._path = path
        self._digests: dict[str, bytes] = {}  # key -> content hash as read (bytes: half the memory)
        self._org_ids: dict[str, int] = {}  # persons: key -> organization id as read
        self._loaded: dict[str, Mapping[str, Any]] = {}  # values read for the keys that needed them
        self._set: dict[str, Known] = {}  # written or replayed during this load
        self._removed: set[str] = set()
        if path.exists():
            self._read_hashes()

    def _read_hashes(self) -> None:
        columns = ["key", "content_hash"]
        has_org_id = "org_id" in self._area.schema(self._path).names
        if self.kind == "person":
            columns.append("org_id" if has_org_id else "values")
        for batch in self._area.iter_batches(self._path, columns=columns):
            keys = batch.column("key").to_pylist()
            for key, digest in zip(keys, batch.column("content_hash").to_pylist(), strict=True):
                self._digests[key] = _digest(digest)
            if self.kind != "person":
                continue
            if has_org_id:
                org_ids = batch.column("org_id").to_pylist()
            else:
                org_ids = [_org_id(json.loads(text)) for text in batch.column("values").to_pylist()]
            self._org_ids.update((k, o) for k, o in zip(keys, org_ids, strict=True) if o is not None)

    # -- the mapping ------------------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Known:
        if key in self._set:
            return self._set[key]
        if key in self._removed or key not in self._digests:
            raise KeyError(key)
        return Known(self._loaded.get(key), self._digests[key].hex(), self._org_ids.get(key))

    def __setitem__(self, key: str, known: Known) -> None:
        self._set[key] = known
        self._removed.discard(key)

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self._set.pop(key, None)
        if key in self._digests:
            self._removed.add(key)

    def __contains__(self, key: object) -> bool:
        return key in self._set or (key in self._digests and key not in self._removed)

    def __iter__(self) -> Iterator[str]:
        yield from self._set
        yield from (k for k in self._digests if k not in self._set and k not in self._removed)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    # -- values on demand -------------------------------------------------------------------------------
    def load_values(self, keys: Iterable[str]) -> int:
        """Read the pushed values of ``keys`` (those from the file, not read yet) in one pass; returns
        how many were read."""
        wanted = {k for k in keys if k in self._digests and k not in self._loaded and k not in self._set}
        if not wanted:
            return 0
        where = pc.field("key").isin(sorted(wanted))
        table = self._area.read_rows(self._path, where)
        for key, text in zip(
            table.column("key").to_pylist(), table.column("values").to_pylist(), strict=True
        ):
            self._loaded[key] = json.loads(text)
        return int(table.num_rows)

    # -- saving -------------------------------------------------------------------------------------------
    def save(self) -> None:
        """Rewrite the file: the rows set in this load, and the file's other rows as they were."""
        replaced = pa.array(sorted(set(self._set) | self._removed), pa.string())
        with self._area.table_writer(self._path, PUSHED_SCHEMA) as out:
            if self._digests:
                for batch in self._area.iter_batches(self._path):
                    table = _conform(pa.Table.from_batches([batch]), self.kind)
                    out.write_table(table.filter(pc.invert(pc.is_in(table.column("key"), replaced))))
            rows = sorted((k, v) for k, v in self._set.items() if v.values is not None)
            if rows:
                out.write_table(
                    pa.table(
                        {
                            "key": [k for k, _ in rows],
                            "content_hash": [v.content_hash or "" for _, v in rows],
                            "values": [canonical_json(dict(v.values or {})) for _, v in rows],
                            "org_id": [_org_id(v.values) for _, v in rows],
                        },
                        schema=PUSHED_SCHEMA,
                    )
                )


def _digest(content_hash: str | None) -> bytes:
    try:
        return bytes.fromhex(content_hash or "")
    except ValueError:  # not a hash this product wrote: it never matches, so the values are read
        return b""


def _org_id(values: Mapping[str, Any] | None) -> int | None:
    value = (values or {}).get(ORG_ID)
    return value if isinstance(value, int) else None


def _conform(table: pa.Table, kind: RecordKind) -> pa.Table:
    """A batch of an older file (no ``org_id`` column) in today's schema."""
    if "org_id" in table.column_names:
        return table.select(PUSHED_SCHEMA.names).cast(PUSHED_SCHEMA)
    texts = table.column("values").to_pylist()
    org_ids = [_org_id(json.loads(t)) for t in texts] if kind == "person" else [None] * len(texts)
    return table.append_column("org_id", pa.array(org_ids, pa.int64())).select(PUSHED_SCHEMA.names)
