"""Field definitions: system fields at start, and v1 and v2 Fields APIs showing the same definitions."""

from __future__ import annotations

import re
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


def _v1_by_key(api: Api, entity: str, key: str) -> dict[str, Any]:
    fields = api.data("GET", f"/v1/{entity}Fields", params={"limit": 500})
    return next(f for f in fields if f["key"] == key)


def test_accounts_start_with_system_fields_only(api: Api) -> None:
    v2 = api.data("GET", "/api/v2/organizationFields")
    codes = {f["field_code"] for f in v2}
    assert {"name", "owner_id", "address", "visible_to"} <= codes
    assert not any(f["is_custom_field"] for f in v2)
    v1 = api.data("GET", "/v1/personFields")
    assert {"name", "email", "phone", "org_id"} <= {f["key"] for f in v1}
    assert not any(f["edit_flag"] for f in v1)


def test_a_field_created_in_one_api_is_the_same_field_in_the_other(api: Api) -> None:
    v2 = api.data(
        "POST",
        "/api/v2/organizationFields",
        json={
            "field_name": "Tier",
            "field_type": "enum",
            "options": [{"label": "Gold"}, {"label": "Silver"}],
        },
    )
    assert re.fullmatch(r"[0-9a-f]{40}", v2["field_code"]) and v2["is_custom_field"] is True
    as_v1 = _v1_by_key(api, "organization", v2["field_code"])
    assert as_v1["name"] == "Tier" and as_v1["edit_flag"] is True and as_v1["options"] == v2["options"]
    v1 = api.data("POST", "/v1/organizationFields", json={"name": "Workday ID", "field_type": "varchar"})
    as_v2 = api.data("GET", f"/api/v2/organizationFields/{v1['key']}")
    assert as_v2["field_name"] == "Workday ID" and as_v2["field_type"] == "varchar"
    assert v1["key"] != v2["field_code"]
    api.data("PATCH", f"/api/v2/organizationFields/{v1['key']}", json={"field_name": "Workday customer ID"})
    assert api.data("GET", f"/v1/organizationFields/{v1['id']}")["name"] == "Workday customer ID"


def test_v1_put_replaces_the_option_list(api: Api) -> None:
    field = api.data(
        "POST",
        "/v1/personFields",
        json={
            "name": "Role",
            "field_type": "set",
            "options": [{"label": "A"}, {"label": "B"}, {"label": "C"}],
        },
    )
    a, b, _c = field["options"]
    person = api.data(
        "POST", "/api/v2/persons", json={"name": "P", "custom_fields": {field["key"]: [b["id"]]}}
    )
    options = [{"id": a["id"], "label": "A2"}, {"label": "D"}]  # B and C left out: removed
    updated = api.data("PUT", f"/v1/personFields/{field['id']}", json={"options": options})
    labels = [o["label"] for o in updated["options"]]
    assert labels == ["A2", "D"]
    v2 = api.data("GET", f"/api/v2/personFields/{field['key']}")
    assert v2["options"] == updated["options"]
    # A value pointing at a removed option is gone from the record.
    assert api.data("GET", f"/api/v2/persons/{person['id']}")["custom_fields"][field["key"]] is None
    bad = requests.put(
        f"{api.base}/v1/personFields/{field['id']}",
        json={"options": [{"id": 999999, "label": "X"}]},
        headers=api.headers,
        timeout=5,
    )
    assert bad.status_code == 400 and bad.json()["success"] is False


def test_v2_option_routes_are_atomic_and_visible_in_v1(api: Api) -> None:
    field = api.data(
        "POST",
        "/api/v2/organizationFields",
        json={"field_name": "T", "field_type": "enum", "options": [{"label": "x"}]},
    )
    code = field["field_code"]
    added = api.data(
        "POST", f"/api/v2/organizationFields/{code}/options", json=[{"label": "y"}, {"label": "z"}]
    )
    assert [o["label"] for o in added] == ["y", "z"]
    renamed = api.data(
        "PATCH", f"/api/v2/organizationFields/{code}/options", json=[{"id": added[0]["id"], "label": "Y"}]
    )
    assert renamed == [{"id": added[0]["id"], "label": "Y"}]
    failed = requests.delete(
        f"{api.base}/api/v2/organizationFields/{code}/options",
        json=[{"id": added[1]["id"]}, {"id": 424242}],
        headers=api.headers,
        timeout=5,
    )
    assert failed.status_code == 400
    assert [o["label"] for o in _v1_by_key(api, "organization", code)["options"]] == ["x", "Y", "z"]
    api.data("DELETE", f"/api/v2/organizationFields/{code}/options", json=[{"id": added[1]["id"]}])
    assert [o["label"] for o in _v1_by_key(api, "organization", code)["options"]] == ["x", "Y"]


def test_deleted_fields_vanish_everywhere(api: Api) -> None:
    field = api.data("POST", "/api/v2/organizationFields", json={"field_name": "Gone", "field_type": "text"})
    org = api.data(
        "POST", "/api/v2/organizations", json={"name": "A", "custom_fields": {field["field_code"]: "t"}}
    )
    api.data("DELETE", f"/v1/organizationFields/{_v1_by_key(api, 'organization', field['field_code'])['id']}")
    assert field["field_code"] not in api.data("GET", f"/api/v2/organizations/{org['id']}")["custom_fields"]
    missing = requests.get(
        f"{api.base}/api/v2/organizationFields/{field['field_code']}", headers=api.headers, timeout=5
    )
    assert missing.status_code == 404
    system = requests.delete(f"{api.base}/api/v2/organizationFields/name", headers=api.headers, timeout=5)
    assert system.status_code == 400


def test_v1_lists_default_to_100_and_v2_lists_page_by_cursor(api: Api) -> None:
    for i in range(95):
        api.data("POST", "/v1/organizationFields", json={"name": f"F{i}", "field_type": "varchar"})
    response = requests.get(f"{api.base}/v1/organizationFields", headers=api.headers, timeout=5).json()
    assert len(response["data"]) == 100
    pagination = response["additional_data"]["pagination"]
    assert pagination["more_items_in_collection"] is True and pagination["next_start"] == 100
    rest = api.data("GET", "/v1/organizationFields", params={"start": 100})
    total = len(rest) + 100
    seen, cursor = 0, None
    while True:
        params: dict[str, Any] = {"limit": 40, **({"cursor": cursor} if cursor else {})}
        body = requests.get(
            f"{api.base}/api/v2/organizationFields", params=params, headers=api.headers, timeout=5
        ).json()
        seen += len(body["data"])
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            break
    assert seen == total
