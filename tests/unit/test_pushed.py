"""The pushed state holds hashes, reads values only for rows that changed, and saves as a merge."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from ml_connector.load.known import KnownState
from ml_connector.load.plan import Known, Row, plan_records
from ml_connector.load.pushed import PUSHED_SCHEMA, PushedValues
from ml_connector.staging.area import StagingArea
from ml_connector.staging.canonical import canonical_json
from ml_connector.staging.files import StateFiles
from ml_connector.transform import content_hash

ENTITY = "customers"


@pytest.fixture()
def area(tmp_path: Path) -> StagingArea:
    return StagingArea(f"file://{tmp_path}")


def pushed(area: StagingArea, kind: str = "organization") -> PushedValues:
    return PushedValues(kind, area, StateFiles(area).pushed_path(ENTITY, kind))  # type: ignore[arg-type]


def row(key: str, name: str, kind: str = "organization", org_key: str | None = None) -> Row:
    values = {"name": name, "Workday ID": key}
    return Row(kind, key, values, content_hash(name, values), org_key=org_key)  # type: ignore[arg-type]


def saved(area: StagingArea, *rows: Row, org_id: int | None = None) -> None:
    state = pushed(area, rows[0].kind if rows else "organization")
    for r in rows:
        values = {**r.values, **({"org_id": org_id} if r.kind == "person" else {})}
        state[r.key] = Known(values, r.content_hash)
    state.save()


def test_a_saved_state_is_read_back_as_hashes_and_values_only_on_demand(area: StagingArea) -> None:
    saved(area, row("CUS-1", "A"), row("CUS-2", "B"), row("CUS-3", "C"))
    state = pushed(area)
    assert sorted(state) == ["CUS-1", "CUS-2", "CUS-3"]
    assert state["CUS-2"] == Known(None, row("CUS-2", "B").content_hash, None)
    assert state.load_values(["CUS-2", "CUS-9"]) == 1
    assert state["CUS-2"].values == {"name": "B", "Workday ID": "CUS-2"}
    assert state["CUS-1"].values is None


def test_saving_merges_this_loads_writes_and_removals_into_the_file(area: StagingArea) -> None:
    saved(area, row("CUS-1", "A"), row("CUS-2", "B"), row("CUS-3", "C"))
    state = pushed(area)
    state["CUS-2"] = Known({"name": "B2"}, "beef")
    state["CUS-4"] = Known({"name": "D"}, "cafe")
    del state["CUS-3"]
    state.save()
    table = area.read_table(StateFiles(area).pushed_path(ENTITY, "organization"))
    by_key = {r["key"]: r for r in table.to_pylist()}
    assert sorted(by_key) == ["CUS-1", "CUS-2", "CUS-4"]
    assert by_key["CUS-1"]["values"] == canonical_json({"name": "A", "Workday ID": "CUS-1"})
    assert (by_key["CUS-2"]["content_hash"], by_key["CUS-4"]["values"]) == ("beef", '{"name":"D"}')


def test_a_file_written_before_org_ids_had_a_column_still_gives_a_persons_organization(
    area: StagingArea,
) -> None:
    path = StateFiles(area).pushed_path(ENTITY, "person")
    old = pa.table(
        {"key": ["BEC-1"], "content_hash": ["ab" * 32], "values": ['{"name":"X","org_id":17}']},
    )
    area.write_table(path, old)
    state = pushed(area, "person")
    assert state["BEC-1"].org_id == 17
    state.save()
    assert area.read_table(path).schema == PUSHED_SCHEMA
    assert area.read_table(path).column("org_id").to_pylist() == [17]


def test_unchanged_rows_are_planned_without_their_values_and_changed_ones_diff_field_by_field(
    area: StagingArea,
) -> None:
    saved(area, row("CUS-1", "A"), row("CUS-2", "B"))
    known = KnownState.read(area, ENTITY)
    known.identity["organization"] = {"CUS-1": 1, "CUS-2": 2}
    rows = [row("CUS-1", "A"), row("CUS-2", "B renamed")]
    assert known.read_changed_values("organization", rows) == 1  # only the changed row is read
    ops = plan_records(rows, known.plan_inputs("organization", mode="incremental", inactive_policy="skip"))
    assert [(op.key, op.action) for op in ops] == [("CUS-1", "unchanged"), ("CUS-2", "update")]
    assert [(c.field, c.before, c.after) for c in ops[1].changes] == [("name", "B", "B renamed")]


def test_a_person_whose_organization_changed_is_updated_though_its_hash_is_the_same(
    area: StagingArea,
) -> None:
    person = row("BEC-1", "Ann", kind="person", org_key="CUS-1")
    saved(area, person, org_id=10)
    known = KnownState.read(area, ENTITY)
    known.identity = {"organization": {"CUS-1": 11}, "person": {"BEC-1": 5}}
    assert known.read_changed_values("person", [person]) == 1
    [op] = plan_records([person], known.plan_inputs("person", mode="incremental", inactive_policy="skip"))
    assert op.action == "update" and [(c.field, c.before, c.after) for c in op.changes] == [
        ("org_id", 10, 11)
    ]
