"""Both sync DAGs end to end: dag.test() on a real metadata DB, the sandbox over HTTP on both sides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from support.sandbox import PipedriveApi
from support.sync_world import SyncWorld, route_count, task_states

from ml_connector.audit.ledger import read_ledger

ORGS_POST = "POST /api/v2/organizations"
ORGS_PATCH = "PATCH /api/v2/organizations/{id}"
PERSONS_POST = "POST /api/v2/persons"
PERSONS_PATCH = "PATCH /api/v2/persons/{id}"
WRITES = (ORGS_POST, ORGS_PATCH, PERSONS_POST, PERSONS_PATCH)
TASKS = {"refresh_tokens", "validate_field_definitions", "extract", "transform", "load", "report"}


def writes(stats: dict[str, object]) -> dict[str, int]:
    return {route: route_count(stats, route) for route in WRITES}  # type: ignore[arg-type]


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in after}


@pytest.mark.parametrize("entity", ["customers", "suppliers"])
def test_first_sync_then_a_second_sync_with_no_change_writes_nothing(world: SyncWorld, entity: str) -> None:
    summary_wd = world.workday("GET", "/workday/summary")
    first = world.run(entity, mode="full_refresh")
    assert str(first.state) in ("success", "DagRunState.SUCCESS")
    assert set(task_states(first)) == TASKS and set(task_states(first).values()) == {"success"}
    orgs = world.records("organizations")
    expected = summary_wd[entity]["total"]
    # dual customer/supplier companies are one organization each, keyed by their Customer_ID
    assert len(orgs) == expected
    assert world.duplicates("organizations", "Workday ID") == {}
    assert world.duplicates("persons", "Workday contact ID") == {}
    persons = world.records("persons")
    assert persons and all(p["org_id"] for p in persons)

    stats = world.pipedrive_stats()
    before = writes(stats)
    fields_before = route_count(stats, "GET /api/v2/organizationFields")
    second = world.run(entity)
    assert str(second.state) in ("success", "DagRunState.SUCCESS")
    stats = world.pipedrive_stats()
    assert delta(writes(stats), before) == dict.fromkeys(WRITES, 0)
    # the field definitions are listed once per run (validate_field_definitions); load reuses them
    assert route_count(stats, "GET /api/v2/organizationFields") - fields_before == 1
    assert len(world.records("organizations")) == expected


def test_changed_records_produce_exactly_their_patches(world: SyncWorld) -> None:
    world.run("customers", mode="full_refresh")
    changed = world.workday("POST", "/workday/mutate", {"update_customers": 4, "create_customers": 2})
    before = writes(world.pipedrive_stats())
    world.run("customers")
    made = delta(writes(world.pipedrive_stats()), before)
    assert made[ORGS_PATCH] == len(changed["updated_customers"])
    assert made[ORGS_POST] == len(changed["created_customers"])
    assert made[PERSONS_POST] == len(changed["created_contacts"])
    assert made[PERSONS_PATCH] == 0


def test_deactivated_customer_is_updated_not_deleted(world: SyncWorld) -> None:
    world.run("customers", mode="full_refresh")
    count = len(world.records("organizations"))
    changed = world.workday("POST", "/workday/mutate", {"deactivate_customers": 1})
    world.run("customers")
    orgs = world.records("organizations")
    assert len(orgs) == count
    status_key = world.field_key("organization", "Workday customer status")
    id_key = world.field_key("organization", "Workday ID")
    target = next(o for o in orgs if o["custom_fields"][id_key] == changed["deactivated_customers"][0])
    assert target["custom_fields"][status_key] is not None
    stats = world.pipedrive_stats()
    assert route_count(stats, "DELETE /api/v2/organizations/{id}") == 0


def test_dry_run_writes_the_plan_and_nothing_else(world: SyncWorld) -> None:
    run = world.run("customers", mode="full_refresh", dry_run=True)
    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    routes = set(world.pipedrive_stats()["by_route"])
    writes_made = {r for r in routes if not r.startswith("GET ") and r != "POST /oauth/token"}
    assert writes_made == set()  # no record, field or option was written; only the OAuth refresh
    plan = world.area.read_table(world.area.stage_path(run.dag_id, run.run_id, "plan")).to_pylist()
    assert plan and {row["action"] for row in plan} >= {"create"}
    assert world.records("organizations") == []


def test_failed_writes_turn_the_run_red_and_the_next_run_writes_them(world: SyncWorld) -> None:
    world.pipedrive("POST", "/faults", {"route": "POST /api/v2/persons", "status": 400, "count": 3})
    first = world.run("customers", mode="full_refresh")
    states = task_states(first)
    assert states["load"] == "success" and states["report"] == "failed"  # not green: alerts fire
    assert world.summary(first.dag_id, first.run_id)["persons"]["failed"] == 3
    ledger = read_ledger(world.area, entity="customers")
    failed = ledger[(ledger["kind"] == "person") & (ledger["action"] == "failed")]
    assert len(failed) == 3 and set(failed["http_status"]) == {400} and set(failed["system"]) == {"pipedrive"}
    (report,) = ledger[(ledger["kind"] == "task") & (ledger["task_id"] == "report")].to_dict("records")
    assert report["action"] == "failed" and "3 record(s) failed to write" in report["reason"]
    persons = len(world.records("persons"))
    second = world.run("customers")
    assert set(task_states(second).values()) == {"success"}
    assert world.summary(second.dag_id, second.run_id)["persons"]["created"] == 3  # carried over, written
    assert len(world.records("persons")) == persons + 3
    assert world.duplicates("persons", "Workday contact ID") == {}


def test_a_duplicate_made_in_pipedrive_is_noticed_by_the_next_incremental_run(world: SyncWorld) -> None:
    world.run("customers", mode="full_refresh")
    id_key = world.field_key("organization", "Workday ID")
    orgs = world.records("organizations")
    twin, remade = orgs[2], orgs[3]
    with PipedriveApi(world.sandbox) as api:  # a person adds a second record of one customer by hand,
        copy = {"name": twin["name"], "custom_fields": {id_key: twin["custom_fields"][id_key]}}
        second = api.data("POST", "/api/v2/organizations", json=copy)
        # and deletes another one and makes it again
        api.data("DELETE", f"/api/v2/organizations/{remade['id']}")
        again = {"name": remade["name"], "custom_fields": {id_key: remade["custom_fields"][id_key]}}
        new_id = api.data("POST", "/api/v2/organizations", json=again)["id"]
    world.workday("POST", "/workday/mutate", {"update_customers": 40})  # every customer changes
    before = route_count(world.pipedrive_stats(), ORGS_PATCH)
    run = world.run("customers")
    summary = world.summary(run.dag_id, run.run_id)
    assert summary["organizations"]["conflicts"] == 1
    key = twin["custom_fields"][id_key]
    ledger = [
        row
        for path in (world.area.root / "ledger" / "customers").rglob("*.parquet")
        for row in world.area.read_table(path).to_pylist()
        if row["run_id"] == run.run_id and row["key"] == key
    ]
    assert [r["action"] for r in ledger] == ["conflict"]
    assert f"ids {twin['id']}, {second['id']}" in ledger[0]["reason"]
    # the duplicate is not written to; the re-made record is updated under its new id, not duplicated
    assert route_count(world.pipedrive_stats(), ORGS_PATCH) - before == 40 - 1
    ids = [o["custom_fields"][id_key] for o in world.records("organizations")]
    assert ids.count(remade["custom_fields"][id_key]) == 1
    identity = {
        r["key"]: r["pipedrive_id"]
        for r in world.area.read_table(world.area.state_path("organizations", "identity.parquet")).to_pylist()
    }
    assert identity[remade["custom_fields"][id_key]] == new_id


def test_a_customer_that_breaks_its_soap_page_is_rejected_alone(world: SyncWorld) -> None:
    total = world.workday("GET", "/workday/summary")["customers"]["total"]
    bad = set(world.workday("POST", "/workday/mutate", {"unparseable_customers": 1})["unparseable_customers"])
    run = world.run("customers", mode="full_refresh")
    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    rejected = world.area.read_table(world.area.stage_path(run.dag_id, run.run_id, "rejected")).to_pylist()
    assert {r["key"] for r in rejected if r["entity"] == "organization"} == bad
    assert all("not well-formed" in r["reason"] for r in rejected if r["key"] in bad)
    id_key = world.field_key("organization", "Workday ID")
    synced = {o["custom_fields"][id_key] for o in world.records("organizations")}
    assert len(synced) == total - len(bad) and not (synced & bad)


def test_a_bad_record_is_rejected_while_the_rest_sync(world: SyncWorld) -> None:
    corrupted = world.workday("POST", "/workday/mutate", {"corrupt_contact_emails": 40})["corrupted_contacts"]
    run = world.run("customers", mode="full_refresh")
    states = task_states(run)
    # everything else is written; with this many rejects (past max_rejected_share) the run ends red
    assert states["load"] == "success" and states["report"] == "failed"
    rejected = world.area.read_table(world.area.stage_path(run.dag_id, run.run_id, "rejected")).to_pylist()
    rejected_keys = {r["key"] for r in rejected if r["entity"] == "person"}
    assert rejected_keys and rejected_keys <= set(corrupted)
    assert all("email" in r["reason"].lower() for r in rejected if r["entity"] == "person")
    synced = world.records("persons")
    contact_key = world.field_key("person", "Workday contact ID")
    synced_keys = {p["custom_fields"][contact_key] for p in synced}
    assert synced and not (synced_keys & rejected_keys)


def test_a_manual_run_with_no_logical_date_continues_from_the_watermark(world: SyncWorld) -> None:
    first = world.run("suppliers", mode="full_refresh")
    assert first.logical_date is None
    changed = world.workday("POST", "/workday/mutate", {"update_suppliers": 3})
    second = world.run("suppliers")
    assert second.logical_date is None
    window = world.extract_meta(second.dag_id, second.run_id)["window"]
    assert window["start"] is not None and "watermark" in window["reason"]
    meta = world.extract_meta(second.dag_id, second.run_id)
    assert meta["organizations"] >= len(changed["updated_suppliers"])


def test_load_killed_half_way_and_rerun_leaves_no_duplicate_and_no_gap(world: SyncWorld) -> None:
    expected = world.workday("GET", "/workday/summary")["customers"]["total"]
    # Pipedrive's edge starts blocking after 15 creates: the load stops at once, as a dead worker would
    world.pipedrive(
        "POST", "/faults", {"route": ORGS_POST, "after": 15, "count": 1000, "kind": "status", "status": 403}
    )
    logical = datetime(2026, 11, 20, tzinfo=UTC)
    failed = world.run("customers", logical_date=logical, mode="full_refresh")
    assert task_states(failed)["load"] == "failed"
    assert 0 < len(world.records("organizations")) < expected
    world.pipedrive("DELETE", "/faults")
    rerun = world.run("customers", logical_date=logical, mode="full_refresh")
    assert task_states(rerun)["load"] == "success"
    assert len(world.records("organizations")) == expected
    assert world.duplicates("organizations", "Workday ID") == {}


def test_search_index_lag_causes_no_duplicate(world: SyncWorld) -> None:
    world.pipedrive("POST", "/pipedrive/settings", {"search_index_lag_s": 30})
    world.run("customers", mode="full_refresh")
    world.run("customers", mode="full_refresh")
    world.run("customers", mode="reconcile")
    assert world.duplicates("organizations", "Workday ID") == {}
    assert world.duplicates("persons", "Workday contact ID") == {}


def _suppliers_updated(world: SyncWorld, start: datetime | None, end: datetime | None) -> set[str]:
    """Ground truth from the tenant's own RaaS report: Supplier IDs last updated in ``[start, end)``."""
    wd = world.sandbox.config.workday
    params = {"format": "json"}
    if start and end:
        params |= {"Updated_From": start.isoformat(), "Updated_To": end.isoformat()}
    body = requests.get(
        f"{world.sandbox.workday_url}/ccx/service/customreport2/{wd.tenant}/{wd.raas_owner}/ML_Connector_Suppliers",
        params=params,
        auth=(wd.isu_username, wd.isu_password),
        timeout=30,
    ).json()
    return {row["Supplier_ID"] for row in body.get("Report_Entry", [])}


def test_backfill_runs_extract_exactly_their_windows(world: SyncWorld) -> None:
    """Backfill runs for three consecutive days of a never-synced entity each extract their own data
    interval minus the overlap: exactly the suppliers Workday updated in it, not an initial full load."""
    dag_id = "workday_suppliers_to_pipedrive"
    assert _suppliers_updated(world, None, None)
    # three days around the first supplier update the tenant has, so the windows are not all empty
    wd = world.sandbox.config.workday
    rows = requests.get(
        f"{world.sandbox.workday_url}/ccx/service/customreport2/{wd.tenant}/{wd.raas_owner}/ML_Connector_Suppliers",
        params={"format": "json"},
        auth=(wd.isu_username, wd.isu_password),
        timeout=30,
    ).json()["Report_Entry"]
    anchor = min(datetime.fromisoformat(r["Last_Updated"]) for r in rows).astimezone(UTC)
    first_day = anchor.replace(hour=2, minute=0, second=0, microsecond=0)
    extracted_total = 0
    for offset in (0, 1, 2):
        logical = first_day + timedelta(days=offset)
        run = world.run("suppliers", logical_date=logical, run_type="backfill")
        assert str(run.state) in ("success", "DagRunState.SUCCESS")
        assert run.run_id.startswith("backfill__")
        start, end = run.data_interval_start, run.data_interval_end
        assert end - start == timedelta(days=1)
        window = world.extract_meta(dag_id, run.run_id)["window"]
        assert datetime.fromisoformat(window["start"]) == start - timedelta(minutes=10)
        assert datetime.fromisoformat(window["end"]) == end
        keys = set(
            world.area.read_table(world.area.stage_path(dag_id, run.run_id, "extracted_organizations"))
            .column("record_key")
            .to_pylist()
        )
        assert keys == _suppliers_updated(world, start - timedelta(minutes=10), end)
        extracted_total += len(keys)
    assert extracted_total >= 1
    # windows before any full load cover no contiguous history: the entity still counts as never synced
    assert world.area.read_json(world.area.state_path("suppliers", "watermark.json")) is None


@pytest.mark.parametrize(
    ("lost", "applied"),
    [
        ({"kind": "malformed"}, True),
        ({"kind": "lost_response"}, True),
        ({"kind": "lost_response", "status": 502}, True),
        ({"kind": "drop"}, False),
    ],
    ids=["cut-answer", "dropped-after-write", "502-after-write", "dropped-before-write"],
)
def test_a_create_whose_answer_is_lost_is_resolved_in_the_same_run(
    world: SyncWorld, lost: dict[str, Any], applied: bool
) -> None:
    """The answer to a create never arrives (whole): the create is not resent blindly. The load looks it
    up once in what changed since it began: adopted when Pipedrive stored it, created now when not."""
    expected = world.workday("GET", "/workday/summary")["customers"]["total"]
    world.pipedrive("POST", "/faults", {"route": ORGS_POST, "after": 5, "count": 1, **lost})
    first = world.run("customers", mode="full_refresh")
    assert set(task_states(first).values()) == {"success"}
    summary = world.summary(first.dag_id, first.run_id)
    assert summary["organizations"]["failed"] == 0
    assert summary["organizations"]["created"] == expected
    assert route_count(world.pipedrive_stats(), ORGS_POST) == expected + (0 if applied else 1)
    assert len(world.records("organizations")) == expected
    assert world.duplicates("organizations", "Workday ID") == {}
    ledger = [
        row
        for path in (world.area.root / "ledger" / "customers").rglob("*.parquet")
        for row in world.area.read_table(path).to_pylist()
    ]
    adopted = [r for r in ledger if "found in Pipedrive by listing" in (r["reason"] or "")]
    assert len(adopted) == (1 if applied else 0)
    world.run("customers")
    assert len(world.records("organizations")) == expected
