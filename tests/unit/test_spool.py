"""The spool a load's plan and ledger rows pass through: bounded memory, every row back in order."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from ml_connector.staging.spool import Spool

SCHEMA = pa.schema([("key", pa.string()), ("n", pa.int64())])


def rows(start: int, stop: int) -> pa.Table:
    return pa.table({"key": [f"K-{i}" for i in range(start, stop)], "n": list(range(start, stop))}, SCHEMA)


def test_rows_past_the_bound_go_to_files_and_come_back_in_order() -> None:
    spool = Spool(SCHEMA, spill_rows=5)
    for start in range(0, 23, 3):
        spool.append(rows(start, min(start + 3, 23)))
    assert spool.num_rows == 23
    assert len(spool._held) < 2  # at most what has not yet reached the bound stays in memory
    assert len(spool._spilled) == 4
    assert spool.table().column("n").to_pylist() == list(range(23))
    assert sum(b.num_rows for b in spool.batches()) == 23  # read again: the files stay until closed


def test_a_read_sees_the_rows_appended_before_it_started() -> None:
    spool = Spool(SCHEMA, spill_rows=8)
    spool.append(rows(0, 6))  # held in memory
    reading = spool.batches()
    spool.append(rows(6, 12))  # moves the held rows to a file: the read still sees them, once
    assert spool._spilled and not spool._held
    assert [n for b in reading for n in b.column("n").to_pylist()] == list(range(6))


def test_closing_removes_the_spill_files() -> None:
    spool = Spool(SCHEMA, spill_rows=2)
    spool.append(rows(0, 4))
    folder = Path(spool._spilled[0]).parent
    assert folder.exists()
    spool.close()
    assert not folder.exists()
    assert spool.num_rows == 0 and spool.table().num_rows == 0


def test_a_table_of_another_shape_is_refused() -> None:
    spool = Spool(SCHEMA)
    with pytest.raises(KeyError):
        spool.append(pa.table({"other": [1]}))
