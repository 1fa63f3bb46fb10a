"""The staging area on local storage: paths, atomic writes, JSON state and retention."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ml_connector.staging.area import StagingArea, safe_segment


@pytest.fixture()
def area(tmp_path: Path) -> StagingArea:
    return StagingArea(f"file://{tmp_path}")


def test_stage_paths_are_derived_from_dag_run_and_step(area: StagingArea, tmp_path: Path) -> None:
    path = area.stage_path(
        "workday_customers_to_pipedrive", "scheduled__2026-11-27T00:00:00+00:00", "extracted"
    )
    assert str(path.path) == str(
        tmp_path
        / "runs"
        / "workday_customers_to_pipedrive"
        / "scheduled__2026-11-27T00_00_00_00_00"
        / "extracted.parquet"
    )


def test_safe_segment_refuses_what_cannot_name_a_folder() -> None:
    assert safe_segment("manual__2026-11-27T10:00:00.123+00:00") == "manual__2026-11-27T10_00_00.123_00_00"
    with pytest.raises(ValueError):
        safe_segment("../..")


def test_tables_round_trip_and_writes_replace_without_leftovers(area: StagingArea, tmp_path: Path) -> None:
    path = area.stage_path("d", "r", "orgs")
    area.write_table(path, pa.table({"workday_id": ["CUS-1", "CUS-2"], "name": ["Ä AG", "B Ltd"]}))
    area.write_table(path, pa.table({"workday_id": ["CUS-3"], "name": ["C S.A."]}))
    assert area.read_table(path).to_pylist() == [{"workday_id": "CUS-3", "name": "C S.A."}]
    leftovers = [p for p in (tmp_path / "runs" / "d" / "r").iterdir() if p.name != "orgs.parquet"]
    assert leftovers == []


def test_a_streamed_table_appears_whole_or_not_at_all(area: StagingArea, tmp_path: Path) -> None:
    path = area.stage_path("d", "r", "extracted")
    schema = pa.schema([("key", pa.string())])
    with area.table_writer(path, schema) as writer:
        for start in range(0, 10, 4):
            writer.write_table(pa.table({"key": [f"K{i}" for i in range(start, min(start + 4, 10))]}))
    assert area.count_rows(path) == 10
    assert [b.num_rows for b in area.iter_batches(path, batch_size=3)] == [3, 3, 3, 1]
    with pytest.raises(RuntimeError, match="page 3 failed"), area.table_writer(path, schema) as writer:
        writer.write_table(pa.table({"key": ["new"]}))
        raise RuntimeError("page 3 failed")
    assert area.read_table(path).column("key").to_pylist() == [f"K{i}" for i in range(10)]
    assert [p.name for p in (tmp_path / "runs" / "d" / "r").iterdir()] == ["extracted.parquet"]


def test_read_rows_keeps_only_the_matching_rows(area: StagingArea) -> None:
    path = area.stage_path("d", "r", "plan")
    actions = ["create", "failed", "unchanged", "conflict"] * 1500
    area.write_table(path, pa.table({"key": [f"K{i}" for i in range(len(actions))], "action": actions}))
    kept = area.read_rows(path, pc.field("action").isin(["failed", "conflict"]))
    assert kept.num_rows == 3000 and set(kept.column("action").to_pylist()) == {"failed", "conflict"}
    assert kept.column("key").to_pylist()[:2] == ["K1", "K3"]


def test_missing_input_names_the_file_and_the_fix(area: StagingArea) -> None:
    with pytest.raises(FileNotFoundError, match="clear upstream tasks"):
        area.read_table(area.stage_path("d", "r", "transformed"))


def test_json_state_round_trip_with_default(area: StagingArea) -> None:
    path = area.state_path("customers", "watermark.json")
    assert area.read_json(path, default={}) == {}
    area.write_json(path, {"updated_to": "2026-11-27T00:00:00+00:00"})
    assert area.read_json(path) == {"updated_to": "2026-11-27T00:00:00+00:00"}


def test_cleanup_removes_only_old_runs_and_never_state(area: StagingArea, tmp_path: Path) -> None:
    old = area.stage_path("d", "old_run", "extracted")
    new = area.stage_path("d", "new_run", "extracted")
    state = area.state_path("customers", "identity.json")
    for path in (old, new):
        area.write_table(path, pa.table({"x": [1]}))
    area.write_json(state, {"CUS-1": 1})
    ten_days_ago = (datetime.now(UTC) - timedelta(days=10)).timestamp()
    os.utime(str(old.path), (ten_days_ago, ten_days_ago))
    os.utime(str(state.path), (ten_days_ago, ten_days_ago))

    removed = area.cleanup(timedelta(days=7))

    assert len(removed) == 1 and removed[0].endswith("old_run")
    assert not old.exists() and new.exists() and state.exists()
