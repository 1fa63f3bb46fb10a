"""Rows a task collects before it writes them in one file (a load's plan and ledger rows): held as Arrow
tables up to a bound, the rest in local temporary Parquet files, so the task's memory stays flat
whatever the tenant's size. The files are private to the process and removed with the spool."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

# Rows held in memory before they go to a spill file: a few MB of plan or ledger rows.
SPILL_ROWS = 20_000


class Spool:
    """An append-only table of one schema, read back in order a batch at a time. Not thread-safe: its
    owner appends under its own lock."""

    def __init__(self, schema: pa.Schema, *, spill_rows: int | None = None) -> None:
        self.schema = schema
        self._spill_rows = spill_rows or SPILL_ROWS
        self._held: list[pa.Table] = []
        self._held_rows = 0
        self._spilled: list[Path] = []
        self._spilled_rows = 0
        self._folder: tempfile.TemporaryDirectory[str] | None = None  # removed when the spool is

    @property
    def num_rows(self) -> int:
        return self._spilled_rows + self._held_rows

    def append(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        self._held.append(table.select(self.schema.names).cast(self.schema))
        self._held_rows += table.num_rows
        if self._held_rows >= self._spill_rows:
            self._spill()

    def _spill(self) -> None:
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="ml-connector-spool-")
        path = Path(self._folder.name) / f"{len(self._spilled):05d}.parquet"
        pq.write_table(pa.concat_tables(self._held), path)
        self._spilled.append(path)
        self._spilled_rows += self._held_rows
        self._held, self._held_rows = [], 0

    def batches(self) -> Iterator[pa.RecordBatch]:
        """Every row appended so far, in order; holds one spilled row group at a time."""
        return _read(list(self._spilled), list(self._held))

    def table(self) -> pa.Table:
        """Every row at once: for small spools and tests."""
        batches = list(self.batches())
        return pa.Table.from_batches(batches, schema=self.schema) if batches else self.schema.empty_table()

    def close(self) -> None:
        """Drop every row and remove the spill files."""
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None
        self._held, self._held_rows, self._spilled, self._spilled_rows = [], 0, [], 0


def _read(spilled: list[Path], held: list[pa.Table]) -> Iterator[pa.RecordBatch]:
    for path in spilled:
        with pq.ParquetFile(path) as parquet:
            yield from parquet.iter_batches()
    for table in held:
        yield from table.to_batches()
