"""``reconcile`` with ``repair_duplicates``: records that carry one Workday ID are merged into the oldest
with Pipedrive's merge endpoints, persons follow their organization, every merge is in the ledger, a dry
run plans the merges, and the option is refused outside ``reconcile``."""

from __future__ import annotations

from collections import Counter
from typing import Any

from support.sandbox import PipedriveApi
from support.sync_world import SyncWorld, route_count, task_states

ORG_MERGE = "PUT /v1/organizations/{id}/merge"
PERSON_MERGE = "PUT /v1/persons/{id}/merge"


def _ledger(world: SyncWorld, run_id: str) -> list[dict[str, Any]]:
    return [
        row
        for path in (world.area.root / "ledger" / "customers").rglob("*.parquet")
        for row in world.area.read_table(path).to_pylist()
        if row["run_id"] == run_id
    ]


def _make_duplicates(world: SyncWorld) -> dict[str, Any]:
    """Two extra copies of one organization (one with a person of its own) and one of a person."""
    org_key = world.field_key("organization", "Workday ID")
    person_key = world.field_key("person", "Workday contact ID")
    original = world.records("organizations")[1]
    person = world.records("persons")[0]
    with PipedriveApi(world.sandbox) as api:
        copy = {"name": original["name"], "custom_fields": {org_key: original["custom_fields"][org_key]}}
        copies = [api.data("POST", "/api/v2/organizations", json=copy)["id"] for _ in range(2)]
        stray = api.data("POST", "/api/v2/persons", json={"name": "Stray Contact", "org_id": copies[1]})["id"]
        twin = {"name": person["name"], "custom_fields": {person_key: person["custom_fields"][person_key]}}
        person_copy = api.data("POST", "/api/v2/persons", json=twin)["id"]
    return {
        "org": original,
        "org_copies": copies,
        "stray": stray,
        "person": person,
        "person_copy": person_copy,
        "org_key": org_key,
        "person_key": person_key,
    }


def test_reconcile_merges_duplicates_into_the_oldest_and_a_dry_run_plans_it(world: SyncWorld) -> None:
    world.run("customers", mode="full_refresh")
    dup = _make_duplicates(world)
    org_workday_id = dup["org"]["custom_fields"][dup["org_key"]]

    planned = world.run("customers", mode="reconcile", repair_duplicates=True, dry_run=True)
    assert set(task_states(planned).values()) == {"success"}
    plan = world.area.read_table(world.area.stage_path(planned.dag_id, planned.run_id, "plan")).to_pylist()
    merges = sorted((r["entity"], r["key"], r["pipedrive_id"]) for r in plan if r["action"] == "merge")
    person_workday_id = dup["person"]["custom_fields"][dup["person_key"]]
    assert merges == sorted(
        [("organization", org_workday_id, dup["org"]["id"])] * 2
        + [("person", person_workday_id, dup["person"]["id"])]
    )
    stats = world.pipedrive_stats()
    assert route_count(stats, ORG_MERGE) == route_count(stats, PERSON_MERGE) == 0

    run = world.run("customers", mode="reconcile", repair_duplicates=True)
    assert set(task_states(run).values()) == {"success"}
    stats = world.pipedrive_stats()
    assert (route_count(stats, ORG_MERGE), route_count(stats, PERSON_MERGE)) == (2, 1)
    orgs = world.records("organizations")
    assert Counter(o["custom_fields"][dup["org_key"]] for o in orgs)[org_workday_id] == 1
    assert {o["id"] for o in orgs} & set(dup["org_copies"]) == set()
    persons = {p["id"]: p for p in world.records("persons")}
    assert persons[dup["stray"]]["org_id"] == dup["org"]["id"]  # moved with its organization
    assert dup["person_copy"] not in persons and dup["person"]["id"] in persons
    summary = world.summary(run.dag_id, run.run_id)
    assert (summary["organizations"]["merged"], summary["persons"]["merged"]) == (2, 1)
    assert summary["organizations"]["conflicts"] == summary["persons"]["conflicts"] == 0
    rows = [r for r in _ledger(world, run.run_id) if r["action"] == "merge"]
    assert sorted(r["reason"].split(" into ")[0] for r in rows) == sorted(
        [f"merged Pipedrive organization {i}" for i in dup["org_copies"]]
        + [f"merged Pipedrive person {dup['person_copy']}"]
    )
    assert all(r["tokens"] == 40 for r in rows)

    again = world.run("customers", mode="reconcile", repair_duplicates=True, dry_run=True)
    plan = world.area.read_table(world.area.stage_path(again.dag_id, again.run_id, "plan")).to_pylist()
    assert {r["action"] for r in plan} <= {"unchanged", "skip"}  # nothing left to merge or write


def test_without_repair_duplicates_reconcile_only_reports_them(world: SyncWorld) -> None:
    world.run("customers", mode="full_refresh")
    dup = _make_duplicates(world)
    run = world.run("customers", mode="reconcile")
    assert set(task_states(run).values()) == {"success"}
    summary = world.summary(run.dag_id, run.run_id)
    assert (summary["organizations"]["conflicts"], summary["organizations"]["merged"]) == (1, 0)
    stats = world.pipedrive_stats()
    assert route_count(stats, ORG_MERGE) == route_count(stats, PERSON_MERGE) == 0
    assert dup["org_copies"][0] in {o["id"] for o in world.records("organizations")}


def test_repair_duplicates_outside_reconcile_fails_at_once_saying_why(world: SyncWorld) -> None:
    run = world.run("customers", mode="incremental", repair_duplicates=True)
    states = task_states(run)
    assert states["refresh_tokens"] == "failed"
    assert world.records("organizations") == []
