"""Day one: a fresh install's first scheduled runs load everything Workday has, whatever their data
interval, and manual runs read from the watermark whatever logical date the trigger form prefilled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from support.locking import LeaseHolder
from support.sync_world import SyncWorld, route_count, task_states

WRITES = (
    "POST /api/v2/organizations",
    "PATCH /api/v2/organizations/{id}",
    "POST /api/v2/persons",
    "PATCH /api/v2/persons/{id}",
)


def writes(world: SyncWorld) -> dict[str, int]:
    stats = world.pipedrive_stats()
    return {route: route_count(stats, route) for route in WRITES}


def latest_interval(entity: str) -> datetime:
    """The logical date of the newest complete scheduled interval: the run the scheduler makes first
    after the DAG is unpaused (hourly for customers, daily at 02:00 for suppliers)."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    if entity == "customers":
        return now - timedelta(hours=1)
    today = now.replace(hour=2)
    return (today if today <= now else today - timedelta(days=1)) - timedelta(days=1)


def table(world: SyncWorld, run: object, step: str) -> list[dict[str, object]]:
    path = world.area.stage_path(run.dag_id, run.run_id, step)  # type: ignore[attr-defined]
    return world.area.read_table(path).to_pylist()


@pytest.mark.parametrize("entity", ["suppliers", "customers"])
def test_the_first_scheduled_run_syncs_every_record_and_contact(world: SyncWorld, entity: str) -> None:
    expected = world.workday("GET", "/workday/summary")[entity]["total"]  # all updated weeks before now
    logical = latest_interval(entity)
    first = world.run(entity, logical_date=logical, run_type="scheduled")
    assert first.run_id.startswith("scheduled__")
    assert set(task_states(first).values()) == {"success"}
    window = world.extract_meta(first.dag_id, first.run_id)["window"]
    assert window["start"] is None and window["reason"] == "no watermark yet: initial full load"

    assert len(world.records("organizations")) == expected
    assert world.duplicates("organizations", "Workday ID") == {}
    contacts = table(world, first, "extracted_contacts")
    rejected = [r for r in table(world, first, "rejected") if r["entity"] == "person"]
    assert not [r for r in rejected if "unknown" in str(r["reason"])]  # no contact lost its organization
    persons = world.records("persons")
    assert len(persons) == len(contacts) - len(rejected) > 0
    assert world.duplicates("persons", "Workday contact ID") == {}

    before = writes(world)
    step = timedelta(hours=1) if entity == "customers" else timedelta(days=1)
    second = world.run(entity, logical_date=logical + step, run_type="scheduled")
    assert set(task_states(second).values()) == {"success"}
    assert writes(world) == before
    window = world.extract_meta(second.dag_id, second.run_id)["window"]
    assert datetime.fromisoformat(window["start"]) == logical + step - timedelta(minutes=10)


def test_a_manual_run_with_a_logical_date_writes_exactly_the_changes_since_the_last_run(
    world: SyncWorld,
) -> None:
    world.run("suppliers", logical_date=latest_interval("suppliers"), run_type="scheduled")
    changed = world.workday("POST", "/workday/mutate", {"update_suppliers": 3, "create_suppliers": 2})
    before = writes(world)
    # the trigger form prefills a logical date; its interval (here a day weeks ago) must not matter
    manual = world.run("suppliers", logical_date=datetime(2026, 11, 10, tzinfo=UTC))
    assert manual.run_id.startswith("manual__") and manual.data_interval_start is not None
    assert set(task_states(manual).values()) == {"success"}
    window = world.extract_meta(manual.dag_id, manual.run_id)["window"]
    assert "watermark" in window["reason"] and datetime.fromisoformat(window["end"]) > datetime(
        2026, 11, 11, tzinfo=UTC
    )
    extracted = {r["record_key"] for r in table(world, manual, "extracted_organizations")}
    assert extracted == set(changed["updated_suppliers"]) | set(changed["created_suppliers"])
    made = {route: n - before[route] for route, n in writes(world).items()}
    assert made["POST /api/v2/organizations"] == len(changed["created_suppliers"])
    assert made["PATCH /api/v2/organizations/{id}"] == len(changed["updated_suppliers"])
    assert made["POST /api/v2/persons"] == len(changed["created_contacts"])


@pytest.mark.parametrize("keys", ["", "not-a-fernet-key"])
def test_a_missing_or_invalid_fernet_key_fails_at_once_without_retries(
    world: SyncWorld, monkeypatch: pytest.MonkeyPatch, keys: str
) -> None:
    from ml_connector.dag.factory import build_sync_dag, mapping_path

    monkeypatch.setenv("ML_CONNECTOR_FERNET_KEYS", keys)
    dag = build_sync_dag(mapping_path("customers"), task_retries=3)  # as deployed: retries on
    run = dag.test()
    (ti,) = [ti for ti in run.get_task_instances() if ti.task_id == "refresh_tokens"]
    assert str(getattr(ti.state, "value", ti.state)) == "failed"  # not up_for_retry
    assert ti.try_number == 1
    assert world.records("organizations") == []


def test_the_writing_tasks_take_the_pipedrive_write_lease_without_any_pool(
    world: SyncWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process (the other DAG's load, a CLI run) holds the company's lease: nothing is written
    beside it, and the task fails naming the holder once its bounded wait is over."""
    from ml_connector.load import lease

    monkeypatch.setattr(lease, "LEASE_WAIT", timedelta(seconds=2))
    holder = LeaseHolder(
        str(world.area.root),
        "pipedrive-company-1",
        "load of run scheduled__x of workday_suppliers_to_pipedrive",
    )
    try:
        blocked = world.run("customers", mode="full_refresh")
        assert task_states(blocked)["validate_field_definitions"] == "failed"
        assert {r for r in world.pipedrive_stats()["by_route"] if not r.startswith("GET ")} <= {
            "POST /oauth/token"
        }
    finally:
        holder.release()
    done = world.run("customers", mode="full_refresh")
    assert set(task_states(done).values()) == {"success"}
    assert world.records("organizations")


def test_a_run_whose_budget_is_at_its_reserve_is_deferred_whole_with_a_ledger_row(world: SyncWorld) -> None:
    world.pipedrive("POST", "/pipedrive/settings", {"daily_tokens_remaining": 500})  # below the reserve
    run = world.run("customers", logical_date=latest_interval("customers"), run_type="scheduled")
    assert set(task_states(run).values()) == {"success"}  # deferral is not a failure
    summary = world.summary(run.dag_id, run.run_id)
    assert summary["deferred_run"] and summary["budget_exhausted"]
    assert summary["organizations"]["read"] == summary["organizations"]["deferred"] > 0
    assert world.records("organizations") == []
    ledger = [
        row
        for path in (world.area.root / "ledger" / "customers").rglob("*.parquet")
        for row in world.area.read_table(path).to_pylist()
    ]
    (row,) = [r for r in ledger if r["kind"] == "run"]
    assert (row["key"], row["action"]) == (run.run_id, "deferred") and "budget" in row["reason"]
    # the reserve stopping a call is an incident, once per task that met it
    incidents = [r for r in ledger if r["kind"] == "rate_limit"]
    assert incidents and {r["action"] for r in incidents} == {"reserve"}
    assert {r["system"] for r in incidents} == {"pipedrive"}
    # the watermark stays: the next run is still the initial full load
    assert world.area.read_json(world.area.state_path("customers", "watermark.json")) is None
