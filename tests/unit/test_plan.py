"""Plan and diff logic without HTTP: what each record needs, and that only changes are sent."""

from __future__ import annotations

from typing import Any

import pytest

from ml_connector.load.plan import (
    Change,
    Known,
    PlanInputs,
    Row,
    diff_values,
    merge_carried,
    needs_listing,
    plan_record,
    same_value,
)


def org(key: str = "CUS-1", active: bool = True, values: dict[str, Any] | None = None) -> Row:
    base: dict[str, Any] = {
        "name": "Acme",
        "Workday ID": key,
        "Workday roles": ["Customer"],
        "Workday currency": "USD",
    }
    return Row("organization", key, {**base, **(values or {})}, content_hash="h", active=active)


def person(key: str = "CON-1", org_key: str = "CUS-1", **values: Any) -> Row:
    return Row("person", key, {"name": "Ann Lee", "Workday contact ID": key, **values}, "h", org_key=org_key)


@pytest.mark.parametrize(
    ("before", "after", "same"),
    [
        (None, "", True),
        (None, [], True),
        ([], None, True),
        (1, 1.0, True),
        ("USD", "EUR", False),
        (["Customer"], ["Customer", "Supplier"], False),
        ([{"value": "a@x.test", "primary": True}], [{"primary": True, "value": "a@x.test"}], True),
        (0, None, False),
    ],
)
def test_values_compare_as_pipedrive_stores_them(before: Any, after: Any, same: bool) -> None:
    assert same_value(before, after) is same


def test_diff_lists_only_changed_fields_with_before_and_after() -> None:
    before = {
        "name": "Acme",
        "Workday currency": "USD",
        "Workday roles": ["Customer"],
        "Workday segment": None,
    }
    after = {"name": "Acme", "Workday currency": "EUR", "Workday roles": ["Customer"], "Workday segment": ""}
    assert diff_values(before, after) == (Change("Workday currency", "USD", "EUR"),)
    assert diff_values(None, {"name": "Acme", "Workday segment": None}) == (Change("name", None, "Acme"),)


def test_an_unknown_key_is_created_with_every_non_empty_field() -> None:
    op = plan_record(org(), PlanInputs(identity={}))
    assert op.action == "create" and op.pipedrive_id is None
    assert op.fields_changed == ["Workday ID", "Workday currency", "Workday roles", "name"]


def test_a_known_key_with_the_same_values_is_unchanged_and_a_changed_one_updates_only_that() -> None:
    known = {"CUS-1": Known(dict(org().values))}
    inputs = PlanInputs(identity={"CUS-1": 7}, known=known)
    same = plan_record(org(), inputs)
    assert (same.action, same.pipedrive_id, same.changes) == ("unchanged", 7, ())
    changed = plan_record(org(values={"Workday currency": "EUR"}), inputs)
    assert changed.action == "update" and changed.changed_values() == {"Workday currency": "EUR"}


def test_a_known_key_this_dag_never_pushed_gets_every_field() -> None:
    op = plan_record(org(), PlanInputs(identity={"CUS-1": 7}))
    assert op.action == "update" and len(op.changes) == 4 and "unknown" in op.reason


def test_inactive_records_update_their_status_or_are_skipped_when_the_policy_says_so() -> None:
    inactive = org(active=False, values={"Workday customer status": "Inactive"})
    known = {"CUS-1": Known({**org().values, "Workday customer status": "Active"})}
    updated = plan_record(inactive, PlanInputs(identity={"CUS-1": 7}, known=known))
    assert updated.action == "update" and updated.changed_values() == {"Workday customer status": "Inactive"}
    skipped = plan_record(inactive, PlanInputs(identity={"CUS-1": 7}, known=known, inactive_policy="skip"))
    assert skipped.action == "skip" and skipped.pipedrive_id == 7
    new = plan_record(inactive, PlanInputs(identity={}))
    assert new.action == "create" and new.changed_values()["Workday customer status"] == "Inactive"
    assert plan_record(inactive, PlanInputs(identity={}, inactive_policy="skip")).action == "skip"


def test_a_conflicting_key_is_reported_and_not_written() -> None:
    op = plan_record(org(), PlanInputs(identity={}, conflicts={"CUS-1": [3, 9]}))
    assert op.action == "conflict" and "ids 3, 9" in op.reason and op.changes == ()


def test_a_person_of_an_organization_in_conflict_is_reported_as_such() -> None:
    op = plan_record(person(), PlanInputs(identity={"CON-1": 5}, org_conflicts={"CUS-1": [3, 9]}))
    assert op.action == "conflict" and "CUS-1" in op.reason and "in conflict" in op.reason
    assert op.pipedrive_id == 5 and op.changes == ()


def test_a_person_needs_its_organization_and_follows_it_when_it_moves() -> None:
    waiting = plan_record(person(), PlanInputs(identity={}))
    assert waiting.action == "deferred" and "CUS-1" in waiting.reason
    created = plan_record(person(), PlanInputs(identity={}, org_ids={"CUS-1": 12}))
    assert created.action == "create" and created.changed_values()["org_id"] == 12
    known = {"CON-1": Known({**person().values, "org_id": 12})}
    moved = plan_record(
        person(org_key="CUS-2"), PlanInputs(identity={"CON-1": 5}, known=known, org_ids={"CUS-2": 13})
    )
    assert moved.action == "update" and moved.changes == (Change("org_id", 12, 13),)


def test_carried_rows_go_first_in_this_runs_version() -> None:
    carried = [org("CUS-9"), org("CUS-2", values={"Workday currency": "OLD"})]
    current = [org("CUS-1"), org("CUS-2", values={"Workday currency": "NEW"})]
    merged = merge_carried(current, carried)
    assert [r.key for r in merged] == ["CUS-9", "CUS-2", "CUS-1"]
    assert merged[1].values["Workday currency"] == "NEW"


def test_listing_is_needed_only_for_active_keys_the_map_lacks() -> None:
    assert needs_listing([("CUS-1", True)], {}) is True
    assert needs_listing([("CUS-1", True)], {"CUS-1": 1}) is False
    assert needs_listing([("CUS-2", False)], {"CUS-1": 1}) is True
    assert needs_listing([("CUS-2", False)], {"CUS-1": 1}, skip_inactive=True) is False
