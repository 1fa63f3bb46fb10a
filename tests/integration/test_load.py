"""The load against the sandbox over real HTTP: API cost, identity, conflicts, exactly-once, budget, dry run."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from support.sandbox import pipedrive_server

from ml_connector.audit import LoadSummary
from ml_connector.fields import ResolvedFields, validate_field_definitions
from ml_connector.hooks.pipedrive import PipedriveHook
from ml_connector.http.retry import RetryPolicy
from ml_connector.load import run
from ml_connector.load.lease import LeaseLost
from ml_connector.load.run import run_load
from ml_connector.mapping import load_mapping
from ml_connector.sandbox.runtime import RunningSandbox
from ml_connector.staging.area import StagingArea
from ml_connector.staging.files import RunFiles, StateFiles

ROOT = Path(__file__).resolve().parents[2]
FAST = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05, rng=random.Random(0))
DAG = "workday_customers_to_pipedrive"
ORGS = "/api/v2/organizations"
PERSONS = "/api/v2/persons"
# What a load without a full listing always costs: one listing per kind of what changed since the last
# duplicate check (10 tokens each, for up to 500 changed records).
CHECKS = {f"GET {ORGS}": 1, f"GET {PERSONS}": 1}


class Killed(BaseException):
    """Stands in for the worker being killed: not an ``Exception``, so nothing may swallow it."""


# -- building the transform's output ---------------------------------------------------------------------------
def content_hash(name: str, values: dict[str, Any]) -> str:
    text = json.dumps({"name": name, "values": values}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def org(i: int, **changes: Any) -> dict[str, Any]:
    key = f"CUS-{i:06d}"
    values: dict[str, Any] = {
        "name": f"Customer {i}",
        "address": f"{i} Main St, Springfield",
        "Workday ID": key,
        "Workday roles": ["Customer"],
        "Workday customer category": "Corporate",
        "Workday customer payment terms": "Net 30",
        "Workday customer currency": "USD",
        "Workday region": "US-CA",
        "Workday country": "US",
        "Workday industry": "Software",
        "Workday segment": None,
        "Workday customer status": "Active",
    }
    active = changes.pop("active", True)
    values.update(changes)
    return {"key": key, "name": values["name"], "values": values, "active": active, "source_ids": key}


def person(i: int, org_i: int, **changes: Any) -> dict[str, Any]:
    key = f"CON-{i:06d}"
    values: dict[str, Any] = {
        "name": f"Person {i}",
        "first_name": "Person",
        "last_name": str(i),
        "emails": [{"value": f"p{i}@example.test", "primary": True, "label": "work"}],
        "phones": [],
        "Workday contact ID": key,
    }
    values.update(changes)
    return {
        "key": key,
        "org_key": f"CUS-{org_i:06d}",
        "name": values["name"],
        "values": values,
        "active": True,
    }


def table(rows: list[dict[str, Any]], persons: bool = False) -> pa.Table:
    columns: dict[str, list[Any]] = {
        "key": [r["key"] for r in rows],
        "name": [r["name"] for r in rows],
        "values": [json.dumps(r["values"], sort_keys=True) for r in rows],
        "content_hash": [content_hash(r["name"], r["values"]) for r in rows],
        "active": [r["active"] for r in rows],
    }
    if persons:
        columns["org_key"] = [r["org_key"] for r in rows]
    else:
        columns["source_ids"] = [r["source_ids"] for r in rows]
    return pa.table(columns)


REJECTED_SCHEMA = pa.schema([(c, pa.string()) for c in ("entity", "key", "field", "reason", "source_ids")])


class Env:
    """A hook on the fresh sandbox, a staging area and resolved fields of the customers mapping."""

    def __init__(self, sandbox: RunningSandbox, area: StagingArea, hook: PipedriveHook) -> None:
        self.sandbox = sandbox
        self.pipedrive = pipedrive_server(sandbox)
        self.area = area
        self.hook = hook
        self.resolved: ResolvedFields = validate_field_definitions(
            hook, load_mapping(ROOT / "include" / "mappings" / "customers.yaml"), area
        )
        self.wid = self.resolved.match_field("organization").key
        self.cid = self.resolved.match_field("person").key

    def stage(
        self,
        run_id: str,
        orgs: list[dict[str, Any]],
        persons: list[dict[str, Any]] | None = None,
        rejected: list[dict[str, str]] | None = None,
    ) -> None:
        stage = self.area.stage_path
        self.area.write_table(stage(DAG, run_id, "transformed_organizations"), table(orgs))
        self.area.write_table(stage(DAG, run_id, "transformed_persons"), table(persons or [], persons=True))
        self.area.write_table(
            stage(DAG, run_id, "rejected"), pa.Table.from_pylist(rejected or [], schema=REJECTED_SCHEMA)
        )

    def load(self, run_id: str, *, hook: PipedriveHook | None = None, **kw: Any) -> LoadSummary:
        args: dict[str, Any] = {"mode": "incremental", "dry_run": False, **kw}
        return run_load(
            hook or self.hook,
            self.area,
            dag_id=DAG,
            run_id=run_id,
            entity="customers",
            resolved=self.resolved,
            **args,
        )

    def calls_during(self, fn: Callable[[], Any]) -> tuple[Any, dict[str, int]]:
        before = Counter(self.pipedrive.by_route())
        result = fn()
        after = Counter(self.pipedrive.by_route())
        after.subtract(before)
        return result, {route: n for route, n in after.items() if n}

    def by_workday_id(self, kind: str = "organization") -> dict[str, list[dict[str, Any]]]:
        """Every live Pipedrive record of ``kind`` grouped by its Workday ID (listing, not search)."""
        key = self.wid if kind == "organization" else self.cid
        out: dict[str, list[dict[str, Any]]] = {}
        for page in self.hook.iter_pages(kind, custom_fields=[key]):  # type: ignore[arg-type]
            for record in page:
                out.setdefault(record["custom_fields"][key], []).append(record)
        return out

    def ledger(self, run_id: str) -> list[dict[str, Any]]:
        files = sorted((self.area.root / "ledger" / "customers").rglob("*.parquet"))
        rows: list[dict[str, Any]] = []
        for path in files:
            rows += [r for r in self.area.read_table(path).to_pylist() if r["run_id"] == run_id]
        return rows


@pytest.fixture()
def env(fresh_sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setenv("AIRFLOW_CONN_PIPEDRIVE_DEFAULT", fresh_sandbox.pipedrive_conn_uri)
    hook = PipedriveHook(retry_policy=FAST)
    yield Env(fresh_sandbox, StagingArea(f"file://{tmp_path}/staging"), hook)
    hook.close()


def orgs_and_persons(n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    orgs = [org(i) for i in range(1, n + 1)]
    persons = [person(i, (i % n) + 1) for i in range(1, n // 2 + 1)]
    return orgs, persons


# -- cost ------------------------------------------------------------------------------------------------------
def test_first_load_creates_everything_and_an_unchanged_second_load_costs_only_the_checks(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    orgs, persons = orgs_and_persons(40)
    env.stage("run-1", orgs, persons)
    with caplog.at_level("INFO", logger="ml_connector.audit"):
        first, calls = env.calls_during(lambda: env.load("run-1"))
    assert first.organizations.created == 40 and first.persons.created == 20
    # One listing page per kind (the map was empty), then one POST per record; no search, no GET by id.
    assert calls == {f"GET {ORGS}": 1, f"POST {ORGS}": 40, f"GET {PERSONS}": 1, f"POST {PERSONS}": 20}
    assert first.requests == 62 and first.tokens_spent == 10 + 40 * 5 + 10 + 20 * 5
    in_pipedrive = env.by_workday_id()
    assert sorted(in_pipedrive) == [o["key"] for o in orgs] and all(
        len(v) == 1 for v in in_pipedrive.values()
    )
    org_ids = {k: v[0]["id"] for k, v in in_pipedrive.items()}
    for key, records in env.by_workday_id("person").items():
        wanted = next(p for p in persons if p["key"] == key)
        assert records[0]["org_id"] == org_ids[wanted["org_key"]]
    line = next(r.getMessage() for r in caplog.records if "key=CUS-000001" in r.getMessage())
    assert line.startswith("audit action=create entity=organization key=CUS-000001 pipedrive_id=")
    assert "Customer 1" not in caplog.text and "example.test" not in caplog.text  # no values, no PII

    env.stage("run-2", orgs, persons)
    second, calls = env.calls_during(lambda: env.load("run-2"))
    assert calls == CHECKS
    assert second.organizations.unchanged == 40 and second.persons.unchanged == 20
    assert second.requests == 2 and second.tokens_spent == 2 * 10  # the two checks, nothing else
    assert RunFiles(env.area, DAG, "run-2").read_document("summary")["organizations"]["unchanged"] == 40
    ledger = env.ledger("run-2")
    assert Counter(r["action"] for r in ledger) == {"unchanged": 60}
    assert {r["fields_changed"] == [] and r["tokens"] == 0 for r in ledger} == {True}


def test_an_update_patches_only_the_changed_fields_and_inactive_updates_the_status(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.stage("run-1", [org(1), org(2), org(3)])
    env.load("run-1")
    bodies: list[dict[str, Any]] = []
    real_patch = env.hook.patch

    def spy(kind: Any, record_id: int, payload: dict[str, Any]) -> dict[str, Any]:
        bodies.append(payload)
        return real_patch(kind, record_id, payload)

    monkeypatch.setattr(env.hook, "patch", spy)
    changed = [
        org(1, **{"Workday customer currency": "EUR"}),
        org(2, **{"Workday customer status": "Inactive"}, active=False),
        org(3),
        org(4, **{"Workday customer status": "Inactive"}, active=False),  # new and inactive: created as such
    ]
    env.stage("run-2", changed)
    summary, calls = env.calls_during(lambda: env.load("run-2"))
    # One listing (CUS-000004 is not in the map), one create, two PATCHes; CUS-000003 costs nothing.
    assert calls == {**CHECKS, f"POST {ORGS}": 1, f"PATCH {ORGS}/{{id}}": 2}
    f = env.resolved.by_name("organization")
    status = f["Workday customer status"]
    assert sorted(bodies, key=str) == sorted(
        [
            {"custom_fields": {f["Workday customer currency"].key: "EUR"}},
            {"custom_fields": {status.key: status.options["Inactive"]}},
        ],
        key=str,
    )
    assert (
        summary.organizations.updated,
        summary.organizations.unchanged,
        summary.organizations.created,
    ) == (2, 1, 1)
    plan = {r["key"]: r for r in RunFiles(env.area, DAG, "run-2").read_table("plan").to_pylist()}
    assert json.loads(plan["CUS-000001"]["changes"]) == [
        {"field": "Workday customer currency", "before": "USD", "after": "EUR"}
    ]
    assert plan["CUS-000004"]["action"] == "create"
    records = env.by_workday_id()
    assert records["CUS-000002"][0]["custom_fields"][env.wid] == "CUS-000002"
    for key in ("CUS-000002", "CUS-000004"):
        stored = env.hook.get("organization", records[key][0]["id"])
        assert stored is not None and stored["custom_fields"][status.key] == status.options["Inactive"]


def test_with_inactive_policy_skip_an_inactive_record_is_left_alone(env: Env) -> None:
    env.stage("run-1", [org(1)])
    env.load("run-1")
    env.resolved = replace(env.resolved, inactive_policy="skip")
    env.stage(
        "run-2", [org(1, **{"Workday customer status": "Inactive"}, active=False), org(2, active=False)]
    )
    summary, calls = env.calls_during(lambda: env.load("run-2"))
    assert calls == CHECKS and summary.organizations.skipped == 2
    assert sorted(env.by_workday_id()) == ["CUS-000001"]


# -- identity -------------------------------------------------------------------------------------------------
def test_a_lost_identity_map_is_rebuilt_by_listing_not_search_so_a_lagging_index_makes_no_duplicate(
    env: Env,
) -> None:
    env.pipedrive.settings(search_index_lag_s=60)
    orgs, persons = orgs_and_persons(10)
    env.stage("run-1", orgs, persons)
    env.load("run-1")
    for kind in ("organizations", "persons"):
        env.area.delete(env.area.state_path(kind, "identity.parquet"))
    env.area.delete(env.area.state_path("customers", "pushed_organizations.parquet"))
    orgs[0] = org(1, **{"Workday customer currency": "CHF"})
    env.stage("run-2", orgs, persons)
    summary, calls = env.calls_during(lambda: env.load("run-2"))
    assert not any("search" in route for route in calls)
    assert calls.get(f"POST {ORGS}", 0) == 0 and calls.get(f"POST {PERSONS}", 0) == 0
    # Values read back from the listing: only the one real change is sent.
    assert calls == {f"GET {ORGS}": 1, f"PATCH {ORGS}/{{id}}": 1, f"GET {PERSONS}": 1}
    assert summary.organizations.updated == 1 and summary.organizations.unchanged == 9
    assert all(len(v) == 1 for v in env.by_workday_id().values())
    assert all(len(v) == 1 for v in env.by_workday_id("person").values())


def test_two_pipedrive_records_with_one_workday_id_are_a_conflict_and_neither_is_written(env: Env) -> None:
    for name in ("Twin A", "Twin B"):
        env.hook.create("organization", {"name": name, "custom_fields": {env.wid: "CUS-000002"}})
    env.stage("run-1", [org(1), org(2), org(3)], [person(1, 2), person(2, 1)])
    summary, calls = env.calls_during(lambda: env.load("run-1"))
    assert summary.organizations.conflicts == 1 and summary.organizations.created == 2
    assert summary.persons.conflicts == 1 and summary.persons.created == 1  # its organization is in conflict
    assert calls.get(f"PATCH {ORGS}/{{id}}", 0) == 0 and calls[f"POST {ORGS}"] == 2
    twins = env.by_workday_id()["CUS-000002"]
    assert sorted(t["name"] for t in twins) == ["Twin A", "Twin B"]
    conflict = next(r for r in env.ledger("run-1") if r["action"] == "conflict")
    assert conflict["key"] == "CUS-000002" and "2 Pipedrive organizations" in conflict["reason"]
    plan = RunFiles(env.area, DAG, "run-1").read_table("plan").to_pylist()
    conflicts = {(r["entity"], r["key"]) for r in plan if r["action"] == "conflict"}
    assert ("organization", "CUS-000002") in conflicts and len(conflicts) == 2
    person_conflict = next(r for r in plan if r["action"] == "conflict" and r["entity"] == "person")
    assert "CUS-000002 is in conflict" in person_conflict["reason"]


# -- exactly once ----------------------------------------------------------------------------------------------
class DyingHook(PipedriveHook):
    """Dies after ``allowed`` creates; with ``after_send`` the last create reaches Pipedrive first."""

    def __init__(self, allowed: int, after_send: bool = False) -> None:
        super().__init__(retry_policy=FAST)
        self.allowed = allowed
        self.after_send = after_send
        self.done = 0

    def create(self, entity: Any, payload: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.done += 1
            n = self.done
        if n > self.allowed + 1 or (n == self.allowed + 1 and not self.after_send):
            raise Killed()
        record = super().create(entity, payload)
        if n == self.allowed + 1:
            raise Killed()  # sent, but the process died before it could journal the write
        return record


@pytest.mark.parametrize("after_send", [False, True], ids=["between-writes", "after-a-post"])
def test_a_killed_load_resumes_with_no_duplicate_and_no_gap(env: Env, after_send: bool) -> None:
    orgs, persons = orgs_and_persons(30)
    env.stage("run-1", orgs, persons)
    dying = DyingHook(allowed=12, after_send=after_send)
    with pytest.raises(Killed):
        env.load("run-1", hook=dying)
    dying.close()
    journal = StateFiles(env.area).journal_path("customers", "run-1")
    assert len(env.area.read_lines(journal)) == 12
    written = len(env.by_workday_id())
    assert written == 12 + after_send

    summary = env.load("run-1")
    assert not journal.exists()
    in_pipedrive = env.by_workday_id()
    assert sorted(in_pipedrive) == [o["key"] for o in orgs]
    assert Counter(len(v) for v in in_pipedrive.values()) == {1: 30}
    assert Counter(len(v) for v in env.by_workday_id("person").values()) == {1: 15}
    assert summary.resumed and summary.organizations.created == 30 - after_send
    assert summary.organizations.unchanged == after_send  # found by listing, values read back
    # the write the killed attempt could not journal is accounted for as adopted by the re-run's listing
    assert Counter(r["action"] for r in env.ledger("run-1") if r["kind"] == "organization") == {
        "create": 30 - after_send,
        **({"unchanged": 1, "adopted": 1} if after_send else {}),
    }


def test_a_load_that_loses_its_lease_stops_writing_and_leaves_what_a_killed_load_leaves(env: Env) -> None:
    """Another load took the lease over (this one was paused past its ttl): no write after the check
    fails, nothing persisted but the journal, and the next attempt finishes with no duplicate and every
    record in the ledger once."""
    orgs, persons = orgs_and_persons(30)
    env.stage("run-1", orgs, persons)
    checks = 0

    def lease_check() -> None:
        nonlocal checks
        checks += 1
        if checks > 10:
            raise LeaseLost("the lease pipedrive-company-1 was lost: taken over by another load")

    with pytest.raises(LeaseLost):
        env.load("run-1", check_lease=lease_check, max_workers=1)
    journal = StateFiles(env.area).journal_path("customers", "run-1")
    assert len(env.area.read_lines(journal)) == 10
    assert len(env.by_workday_id()) == 10  # nothing sent after the failed check
    assert not RunFiles(env.area, DAG, "run-1").document_path("summary").exists()
    assert env.ledger("run-1") == []

    summary = env.load("run-1")
    assert summary.resumed and not journal.exists()
    assert Counter(len(v) for v in env.by_workday_id().values()) == {1: 30}
    assert Counter(r["action"] for r in env.ledger("run-1") if r["kind"] == "organization") == {"create": 30}


# -- budget ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("batch", [None, 3], ids=["one batch", "batches of 3"])
def test_an_exhausted_budget_defers_the_rest_without_failing_and_the_next_run_writes_it_first(
    env: Env, monkeypatch: pytest.MonkeyPatch, batch: int | None
) -> None:
    if batch is not None:  # the budget runs out in the third batch: the later ones are deferred unsent
        monkeypatch.setattr(run, "PLAN_BATCH_ROWS", batch)
    orgs, persons = orgs_and_persons(20)
    env.stage("run-1", orgs, persons)
    reserve = env.hook.config.budget_reserve
    env.pipedrive.settings(daily_tokens_remaining=reserve + 10 + 8 * 5 + 2)
    summary = env.load("run-1", max_workers=1)
    assert summary.budget_exhausted
    assert summary.organizations.created == 8 and summary.organizations.deferred == 12
    assert summary.persons.deferred == 10 and summary.persons.created == 0
    # The next day: a new budget, and a new task with a new hook.
    env.pipedrive.settings(daily_tokens_remaining=100_000)
    env.hook.close()
    env.hook = PipedriveHook(retry_policy=FAST)
    assert len(env.by_workday_id()) == 8
    ledger = env.ledger("run-1")
    assert sum(r["action"] == "budget_exhausted" for r in ledger) == 1
    assert sum(r["action"] == "deferred" for r in ledger) == 22

    env.stage("run-2", [org(21)], [])  # the next window holds one new customer only
    order: list[str] = []
    real_create = env.hook.create

    def spy(kind: Any, payload: dict[str, Any]) -> dict[str, Any]:
        if kind == "organization":
            order.append(payload["custom_fields"][env.wid])
        return real_create(kind, payload)

    setattr(env.hook, "create", spy)  # noqa: B010 - an instance attribute shadows the method
    nxt = env.load("run-2", max_workers=1)
    assert nxt.organizations.created == 13 and nxt.persons.created == 10 and not nxt.budget_exhausted
    assert order[-1] == "CUS-000021" and set(order[:-1]) == {o["key"] for o in orgs[8:]}
    in_pipedrive = env.by_workday_id()
    assert len(in_pipedrive) == 21 and all(len(v) == 1 for v in in_pipedrive.values())
    assert env.area.read_table(env.area.state_path("customers", "deferred.parquet")).num_rows == 0


# -- dry run and persons ---------------------------------------------------------------------------------------
def test_a_dry_run_writes_the_plan_with_before_and_after_and_sends_only_reads(env: Env) -> None:
    env.stage("run-1", [org(1), org(2)], [person(1, 1)])
    env.load("run-1")
    env.stage(
        "run-2",
        [org(1, **{"Workday roles": ["Customer", "Supplier"]}), org(2), org(3)],
        [person(1, 1, last_name="Smith"), person(3, 3)],
        rejected=[
            {
                "entity": "person",
                "key": "CON-000009",
                "field": "emails",
                "reason": "bad email",
                "source_ids": "",
            }
        ],
    )
    summary, calls = env.calls_during(lambda: env.load("run-2", dry_run=True))
    assert calls and all(route.startswith("GET ") for route in calls)
    assert summary.dry_run and summary.organizations.created == 1 and summary.organizations.updated == 1
    plan = {
        (r["entity"], r["key"]): r for r in RunFiles(env.area, DAG, "run-2").read_table("plan").to_pylist()
    }
    roles = json.loads(plan[("organization", "CUS-000001")]["changes"])
    assert roles == [{"field": "Workday roles", "before": ["Customer"], "after": ["Customer", "Supplier"]}]
    assert json.loads(plan[("person", "CON-000001")]["changes"]) == [
        {"field": "last_name", "before": "1", "after": "Smith"}
    ]
    assert plan[("person", "CON-000003")]["action"] == "create"  # under an organization the plan creates
    assert plan[("organization", "CUS-000002")]["action"] == "unchanged"
    assert plan[("person", "CON-000009")]["action"] == "rejected"
    assert len(env.by_workday_id()) == 2  # nothing was written
    assert not StateFiles(env.area).journal_path("customers", "run-2").exists()


def test_a_person_whose_organization_is_not_in_pipedrive_is_deferred_then_written_with_it(env: Env) -> None:
    env.stage("run-1", [org(1)], [person(1, 1), person(2, 2)])
    first = env.load("run-1")
    assert first.persons.created == 1 and first.persons.deferred == 1
    assert set(env.by_workday_id("person")) == {"CON-000001"}
    env.stage("run-2", [org(2)], [])
    second = env.load("run-2")
    assert second.organizations.created == 1 and second.persons.created == 1
    org2 = env.by_workday_id()["CUS-000002"][0]["id"]
    assert env.by_workday_id("person")["CON-000002"][0]["org_id"] == org2


def test_reconcile_repairs_a_manual_edit_in_pipedrive(env: Env) -> None:
    env.stage("run-1", [org(1), org(2)])
    env.load("run-1")
    edited = env.by_workday_id()["CUS-000001"][0]
    env.hook.patch("organization", edited["id"], {"name": "Renamed by hand"})
    env.stage("run-2", [org(1), org(2)])
    assert env.load("run-2").organizations.unchanged == 2  # the pushed values know nothing of the edit
    env.stage("run-3", [org(1), org(2)])
    summary, calls = env.calls_during(lambda: env.load("run-3", mode="reconcile"))
    assert summary.organizations.updated == 1 and calls == {**CHECKS, f"PATCH {ORGS}/{{id}}": 1}
    stored = env.hook.get("organization", edited["id"])
    assert stored is not None and stored["name"] == "Customer 1"


def test_a_record_deleted_in_pipedrive_is_created_again_on_the_run_after_its_404(env: Env) -> None:
    env.stage("run-1", [org(1), org(2)])
    env.load("run-1")
    first_id = env.by_workday_id()["CUS-000001"][0]["id"]
    env.hook.delete("organization", first_id)
    env.stage("run-2", [org(1, **{"Workday customer currency": "EUR"}), org(2)])
    failed = env.load("run-2")
    assert failed.organizations.failed == 1
    env.stage("run-3", [org(1, **{"Workday customer currency": "EUR"}), org(2)])
    summary, calls = env.calls_during(lambda: env.load("run-3"))
    assert summary.organizations.created == 1 and calls.get(f"PATCH {ORGS}/{{id}}", 0) == 0
    records = env.by_workday_id()
    assert len(records["CUS-000001"]) == 1 and records["CUS-000001"][0]["id"] != first_id
