"""Strict v2 validation: each rule answers 400 ERR_SCHEMA_VALIDATION_FAILED with a telling message."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from support.sandbox import PipedriveApi

from ml_connector.sandbox.runtime import RunningSandbox

Api = PipedriveApi


@pytest.fixture()
def api(fresh_sandbox: RunningSandbox) -> Iterator[Api]:
    with PipedriveApi(fresh_sandbox, rate_limits=False) as session:
        yield session


@pytest.fixture()
def fields(api: Api) -> dict[str, Any]:
    """One custom organization field of each interesting type, by type name."""
    out: dict[str, Any] = {}
    for field_type in ("varchar", "double", "monetary", "enum", "set", "date", "address"):
        body: dict[str, Any] = {"field_name": f"F {field_type}", "field_type": field_type}
        if field_type in ("enum", "set"):
            body["options"] = [{"label": "One"}, {"label": "Two"}]
        response = api.call("POST", "/api/v2/organizationFields", json=body)
        assert response.status_code == 200, response.text
        out[field_type] = response.json()["data"]
    return out


def _assert_invalid(response: requests.Response, *fragments: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False
    assert body["code"] == "ERR_SCHEMA_VALIDATION_FAILED"
    assert body["error"].startswith("Validation failed: ")
    for fragment in fragments:
        assert fragment in body["error"], body["error"]


def _org(api: Api, body: dict[str, Any]) -> requests.Response:
    return api.call("POST", "/api/v2/organizations", json=body)


def test_top_level_hash_key_and_unknown_params_are_not_allowed(api: Api, fields: dict[str, Any]) -> None:
    key = fields["varchar"]["field_code"]
    _assert_invalid(
        _org(api, {"name": "A", key: "x"}), f"{key}: Parameter '{key}' is not allowed for this request"
    )
    _assert_invalid(_org(api, {"name": "A", "phone": "1"}), "Parameter 'phone' is not allowed")
    _assert_invalid(
        api.call("GET", "/api/v2/organizations", params={"start": 0}), "Parameter 'start' is not allowed"
    )


def test_option_fields_take_option_ids_only(api: Api, fields: dict[str, Any]) -> None:
    enum, set_ = fields["enum"], fields["set"]
    _assert_invalid(
        _org(api, {"name": "A", "custom_fields": {enum["field_code"]: "One"}}),
        f"Expected 'number' as value for single option custom field '{enum['field_code']}'",
    )
    _assert_invalid(
        _org(api, {"name": "A", "custom_fields": {enum["field_code"]: 987654}}),
        "Option with id 987654",
        enum["field_code"],
    )
    _assert_invalid(_org(api, {"name": "A", "custom_fields": {set_["field_code"]: []}}), set_["field_code"])
    _assert_invalid(
        _org(api, {"name": "A", "custom_fields": {set_["field_code"]: ["1"]}}), set_["field_code"]
    )
    _assert_invalid(
        _org(api, {"name": "A", "custom_fields": {set_["field_code"]: enum["options"][0]["id"]}}), "array"
    )
    ok = _org(api, {"name": "A", "custom_fields": {set_["field_code"]: [set_["options"][0]["id"]]}})
    assert ok.status_code == 200
    cleared = api.call(
        "PATCH",
        f"/api/v2/organizations/{ok.json()['data']['id']}",
        json={"custom_fields": {set_["field_code"]: None}},
    )
    assert cleared.json()["data"]["custom_fields"][set_["field_code"]] is None


def test_typed_custom_values(api: Api, fields: dict[str, Any]) -> None:
    def custom(field_type: str, value: Any) -> requests.Response:
        return _org(api, {"name": "A", "custom_fields": {fields[field_type]["field_code"]: value}})

    _assert_invalid(custom("monetary", 100), fields["monetary"]["field_code"])
    _assert_invalid(custom("monetary", {"value": "100", "currency": "EUR"}), fields["monetary"]["field_code"])
    assert custom("monetary", {"value": 100, "currency": "EUR"}).status_code == 200
    _assert_invalid(custom("double", "12.5"), "Expected 'number'", fields["double"]["field_code"])
    assert custom("double", 12.5).status_code == 200
    _assert_invalid(custom("varchar", 5), "Expected 'string'")
    _assert_invalid(custom("date", "31/01/2024"), fields["date"]["field_code"])
    _assert_invalid(custom("address", {"locality": "x"}), "value")
    subfields = ["country", "admin_area_level_1", "admin_area_level_2", "locality", "sublocality", "route"]
    subfields += ["street_number", "subpremise", "postal_code", "formatted_address"]
    stored = custom("address", {"value": "1 Main St"}).json()["data"]["custom_fields"]
    assert stored[fields["address"]["field_code"]] == {"value": "1 Main St", **dict.fromkeys(subfields)}


def test_unknown_and_deleted_custom_field_keys(api: Api, fields: dict[str, Any]) -> None:
    unknown = "0" * 40
    _assert_invalid(
        _org(api, {"name": "A", "custom_fields": {unknown: "x"}}), f"Custom field '{unknown}' does not exist"
    )
    key = fields["varchar"]["field_code"]
    assert api.call("DELETE", f"/api/v2/organizationFields/{key}").status_code == 200
    _assert_invalid(
        _org(api, {"name": "A", "custom_fields": {key: "x"}}), f"Custom field '{key}' has been deleted"
    )
    _assert_invalid(
        _org(api, {"name": "A", "custom_fields": {"name": "x"}}), "Custom field 'name' does not exist"
    )


def test_numeric_and_boolean_params_are_not_coerced(api: Api) -> None:
    _assert_invalid(_org(api, {"name": "A", "owner_id": "1"}), "owner_id: Expected 'number'")
    _assert_invalid(_org(api, {"name": "A", "visible_to": "3"}), "visible_to")
    _assert_invalid(_org(api, {"name": "A", "visible_to": 2}), "visible_to")
    _assert_invalid(_org(api, {"name": "A", "employee_count": "10"}), "employee_count")
    org_id = _org(api, {"name": "A"}).json()["data"]["id"]
    _assert_invalid(api.call("POST", "/api/v2/persons", json={"name": "P", "org_id": str(org_id)}), "org_id")
    emails = [{"value": "a@x.example", "primary": "true"}]
    _assert_invalid(api.call("POST", "/api/v2/persons", json={"name": "P", "emails": emails}), "primary")
    numeric: list[dict[str, Any]] = [{"value": "a@x.example", "primary": 1}]
    _assert_invalid(api.call("POST", "/api/v2/persons", json={"name": "P", "emails": numeric}), "primary")
    params = {"include_option_labels": "1"}
    _assert_invalid(api.call("GET", "/api/v2/organizations", params=params), "include_option_labels")


def test_names_are_required(api: Api) -> None:
    _assert_invalid(_org(api, {"visible_to": 3}), "name")
    _assert_invalid(api.call("POST", "/api/v2/persons", json={"emails": [{"value": "a@x.example"}]}), "name")
    _assert_invalid(api.call("POST", "/api/v2/persons", json={"first_name": "Ada"}), "name")
    _assert_invalid(api.call("POST", "/api/v2/persons", json={"first_name": "", "last_name": ""}), "name")


def test_emails_and_phones_are_objects_with_at_most_one_primary(api: Api) -> None:
    _assert_invalid(
        api.call("POST", "/api/v2/persons", json={"name": "P", "phones": ["+1 555"]}), "phones[0]"
    )
    _assert_invalid(
        api.call("POST", "/api/v2/persons", json={"name": "P", "emails": "a@x.example"}), "emails"
    )
    two = [{"value": "a", "primary": True}, {"value": "b", "primary": True}]
    _assert_invalid(api.call("POST", "/api/v2/persons", json={"name": "P", "emails": two}), "primary")


def test_query_limits(api: Api) -> None:
    _assert_invalid(api.call("GET", "/api/v2/organizations", params={"limit": 501}), "limit")
    assert api.call("GET", "/api/v2/organizations", params={"limit": 500}).status_code == 200
    keys = ",".join(f"{i:040x}" for i in range(16))
    _assert_invalid(api.call("GET", "/api/v2/organizations", params={"custom_fields": keys}), "custom_fields")
    ids = ",".join(str(i) for i in range(1, 102))
    _assert_invalid(api.call("GET", "/api/v2/organizations", params={"ids": ids}), "ids")
    _assert_invalid(api.call("GET", "/api/v2/organizations", params={"sort_by": "name"}), "sort_by")
    since = {"updated_since": "2025-01-01T10:20:00.123Z"}
    _assert_invalid(api.call("GET", "/api/v2/organizations", params=since), "updated_since")
    _assert_invalid(api.call("GET", "/api/v2/organizations", params={"cursor": "not-a-cursor"}), "cursor")
    _assert_invalid(
        api.call("GET", "/api/v2/persons/search", params={"term": "ab", "fields": "address"}), "fields"
    )
    _assert_invalid(api.call("GET", "/api/v2/organizationFields", params={"limit": 501}), "limit")


def test_custom_fields_wrapped_too_deep_give_the_real_500(api: Api, fields: dict[str, Any]) -> None:
    key = fields["varchar"]["field_code"]
    for custom in ({"custom_fields": {key: "x"}}, {key: {"value": "x"}}):
        response = _org(api, {"name": "A", "custom_fields": custom})
        assert response.status_code == 500
        assert response.json() == {"success": False, "error": "Internal Server Error", "code": "ERR_UNKNOWN"}


def test_field_definitions_are_validated_too(api: Api) -> None:
    _assert_invalid(
        api.call("POST", "/api/v2/organizationFields", json={"field_name": "E", "field_type": "enum"}),
        "options",
    )
    body = {"field_name": "X", "field_type": "varchar", "field_code": "abc"}
    _assert_invalid(api.call("POST", "/api/v2/organizationFields", json=body), "field_code")
    _assert_invalid(
        api.call("POST", "/api/v2/organizationFields", json={"field_name": "X", "field_type": "json"}),
        "field_type",
    )
    _assert_invalid(api.call("PATCH", "/api/v2/organizationFields/name", json={}), "At least one")
