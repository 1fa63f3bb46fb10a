"""Field definitions against the sandbox over real HTTP: creation, pinning across renames, refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from support.sandbox import pipedrive_server

from ml_connector.fields import FieldDefinitionError, ResolvedFields, validate_field_definitions
from ml_connector.hooks.pipedrive import PipedriveHook
from ml_connector.mapping import SyncMapping, load_mapping, parse_mapping
from ml_connector.sandbox.runtime import RunningSandbox
from ml_connector.staging.area import StagingArea

ROOT = Path(__file__).resolve().parents[2]
FIELDS = "/api/v2/organizationFields"


def writes(by_route: dict[str, int]) -> dict[str, int]:
    return {route: n for route, n in by_route.items() if not route.startswith("GET ")}


def customers() -> SyncMapping:
    return load_mapping(ROOT / "include" / "mappings" / "customers.yaml")


def customers_with(**changes: Any) -> SyncMapping:
    data = yaml.safe_load((ROOT / "include" / "mappings" / "customers.yaml").read_text())
    data.update(changes)
    return parse_mapping(data)


def custom_fields(hook: PipedriveHook, kind: str = "organization") -> dict[str, dict[str, Any]]:
    return {f["field_code"]: f for f in hook.list_fields(kind) if f["is_custom_field"]}  # type: ignore[arg-type]


@pytest.fixture()
def area(tmp_path: Path) -> StagingArea:
    return StagingArea(f"file://{tmp_path}/staging")


def test_first_run_creates_the_fields_and_pins_their_keys_then_costs_only_reads(
    hook: PipedriveHook, area: StagingArea, fresh_sandbox: RunningSandbox
) -> None:
    resolved = validate_field_definitions(hook, customers(), area)
    created = custom_fields(hook)
    names = {f["field_name"]: f for f in created.values()}
    assert set(names) == {f.name for f in customers().organization.fields if not f.standard}
    assert names["Workday roles"]["field_type"] == "set"
    assert [o["label"] for o in names["Workday customer status"]["options"]] == ["Active", "Inactive"]
    assert resolved.match_field("organization").key == names["Workday ID"]["field_code"]
    assert resolved.match_field("person").name == "Workday contact ID"
    pins = area.read_json(area.state_path("fields", "pinned.json"))
    assert pins["organization"]["Workday ID"] == names["Workday ID"]["field_code"]

    before = pipedrive_server(fresh_sandbox).by_route()
    again = validate_field_definitions(hook, customers(), area)
    assert again == resolved
    assert writes(pipedrive_server(fresh_sandbox).by_route()) == writes(before)


def test_a_renamed_field_keeps_its_pinned_key_and_no_second_field_is_made(
    hook: PipedriveHook, area: StagingArea, fresh_sandbox: RunningSandbox
) -> None:
    first = validate_field_definitions(hook, customers(), area)
    key = first.match_field("organization").key
    response = requests.patch(
        f"{fresh_sandbox.pipedrive_url}{FIELDS}/{key}",
        json={"field_name": "Workday identifier (renamed by an admin)"},
        headers={"x-api-token": fresh_sandbox.config.pipedrive.api_token},
        timeout=10,
    )
    response.raise_for_status()
    count = len(custom_fields(hook))
    second = validate_field_definitions(hook, customers(), area)
    assert second.match_field("organization").key == key
    assert len(custom_fields(hook)) == count
    # only the first run created
    assert pipedrive_server(fresh_sandbox).by_route()[f"POST {FIELDS}"] == len(custom_fields(hook))


def test_a_deleted_pinned_field_is_an_error_not_a_new_field(
    hook: PipedriveHook, area: StagingArea, fresh_sandbox: RunningSandbox
) -> None:
    first = validate_field_definitions(hook, customers(), area)
    key = first.by_name("organization")["Workday customer currency"].key
    requests.delete(
        f"{fresh_sandbox.pipedrive_url}{FIELDS}/{key}",
        headers={"x-api-token": fresh_sandbox.config.pipedrive.api_token},
        timeout=10,
    ).raise_for_status()
    with pytest.raises(
        FieldDefinitionError, match=r"'Workday customer currency' was pinned to key .* no longer exists"
    ):
        validate_field_definitions(hook, customers(), area)


def test_an_incompatible_type_stops_before_anything_is_written(
    hook: PipedriveHook, area: StagingArea, fresh_sandbox: RunningSandbox
) -> None:
    hook.create_field("organization", "Workday customer currency", "double")
    before = pipedrive_server(fresh_sandbox).by_route()
    with pytest.raises(
        FieldDefinitionError, match=r"'Workday customer currency' .* type 'double' .* needs 'varchar'"
    ):
        validate_field_definitions(hook, customers(), area)
    # not one other field was created first
    assert writes(pipedrive_server(fresh_sandbox).by_route()) == writes(before)
    assert not area.state_path("fields", "pinned.json").exists()


def test_a_missing_option_with_creation_off_is_refused_naming_field_and_option(
    hook: PipedriveHook, area: StagingArea, fresh_sandbox: RunningSandbox
) -> None:
    validate_field_definitions(hook, customers(), area)
    status = next(f for f in custom_fields(hook).values() if f["field_name"] == "Workday customer status")
    inactive = next(o["id"] for o in status["options"] if o["label"] == "Inactive")
    requests.delete(
        f"{fresh_sandbox.pipedrive_url}{FIELDS}/{status['field_code']}/options",
        json=[{"id": inactive}],
        headers={"x-api-token": fresh_sandbox.config.pipedrive.api_token},
        timeout=10,
    ).raise_for_status()
    before = pipedrive_server(fresh_sandbox).by_route()
    with pytest.raises(
        FieldDefinitionError, match=r"'Workday customer status' lacks the option\(s\) 'Inactive'"
    ):
        validate_field_definitions(hook, customers_with(create_missing_fields=False), area)
    assert writes(pipedrive_server(fresh_sandbox).by_route()) == writes(before)
    # With creation allowed (the default) the option is simply added back.
    resolved = validate_field_definitions(hook, customers(), area)
    assert set(resolved.by_name("organization")["Workday customer status"].options) == {"Active", "Inactive"}


def test_a_missing_field_with_creation_off_is_refused(hook: PipedriveHook, area: StagingArea) -> None:
    with pytest.raises(
        FieldDefinitionError, match=r"'Workday ID' does not exist .* create_missing_fields is off"
    ):
        validate_field_definitions(hook, customers_with(create_missing_fields=False), area)
    assert custom_fields(hook) == {}


def test_labels_seen_in_data_are_added_where_the_mapping_allows_it(
    hook: PipedriveHook, area: StagingArea
) -> None:
    observed = {("organization", "Workday customer category"): {"Aerospace", "corporate"}}
    resolved = validate_field_definitions(hook, customers(), area, observed)
    options = resolved.by_name("organization")["Workday customer category"].options
    assert "Aerospace" in options and "Corporate" in options and "corporate" not in options  # case-blind
    assert resolved.to_payload("organization", {"Workday customer category": "Aerospace"}) == {
        "custom_fields": {
            resolved.by_name("organization")["Workday customer category"].key: options["Aerospace"]
        }
    }


def test_payloads_are_typed_as_pipedrive_v2_accepts_them_and_survive_json(
    hook: PipedriveHook, area: StagingArea
) -> None:
    resolved = ResolvedFields.from_json(validate_field_definitions(hook, customers(), area).to_json())
    f = resolved.by_name("organization")
    values = {
        "name": "Typed Co",
        "address": "1 Main St, Springfield",
        "Workday ID": "CUS-1",
        "Workday roles": ["Customer", "Supplier"],
        "Workday customer status": "Active",
        "Workday customer currency": "USD",
        "Workday customer category": None,
    }
    body = resolved.to_payload("organization", values)
    assert body["address"] == {"value": "1 Main St, Springfield"}
    assert body["custom_fields"][f["Workday roles"].key] == sorted(f["Workday roles"].options.values())
    assert (
        body["custom_fields"][f["Workday customer status"].key]
        == f["Workday customer status"].options["Active"]
    )
    assert body["custom_fields"][f["Workday customer category"].key] is None
    assert resolved.to_payload("organization", {"Workday roles": []}) == {
        "custom_fields": {f["Workday roles"].key: None}  # never []: Pipedrive refuses it
    }
    org = hook.create("organization", body)  # strict v2 validation accepts every value
    got = resolved.values_from_record("organization", org)
    assert {name: got[name] for name in values} == values  # and it reads back to the same values
    with pytest.raises(FieldDefinitionError, match="no option 'Platinum'"):
        resolved.to_payload("organization", {"Workday customer status": "Platinum"})
