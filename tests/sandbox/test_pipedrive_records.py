"""v2 organizations and persons over real HTTP: CRUD, cursor paging, filters, soft delete, search, index lag."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from support.sandbox import PipedriveApi

from ml_connector.sandbox.runtime import RunningSandbox

Api = PipedriveApi


@pytest.fixture()
def api(fresh_sandbox: RunningSandbox) -> Iterator[Api]:
    """A keep-alive session with the API token; limits off (their own tests turn them on)."""
    with PipedriveApi(fresh_sandbox, rate_limits=False) as session:
        yield session


def _url(api: Api, path: str) -> str:
    return f"{api.base}{path}"


def _ok(response: requests.Response) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    return body["data"]


def _create_org(api: Api, name: str, **extra: Any) -> dict[str, Any]:
    return dict(_ok(api.post(_url(api, "/api/v2/organizations"), json={"name": name, **extra})))


def _field(api: Api, entity: str, name: str, field_type: str, **extra: Any) -> dict[str, Any]:
    body = {"field_name": name, "field_type": field_type, **extra}
    return dict(_ok(api.post(_url(api, f"/api/v2/{entity}Fields"), json=body)))


def test_created_records_have_the_v2_shape_with_every_custom_field_key(api: Api) -> None:
    wid = _field(api, "organization", "Workday ID", "varchar")
    tier = _field(api, "organization", "Tier", "enum", options=[{"label": "Gold"}])
    org = _create_org(api, "Acme", custom_fields={wid["field_code"]: "C-1"})
    assert org["custom_fields"] == {wid["field_code"]: "C-1", tier["field_code"]: None}
    assert org["is_deleted"] is False and org["visible_to"] == 3 and org["label_ids"] == []
    assert org["add_time"].endswith("Z") and org["update_time"] == org["add_time"]
    person = _ok(
        api.post(
            _url(api, "/api/v2/persons"),
            json={
                "name": "Grace Brewster Hopper",
                "org_id": org["id"],
                "emails": [{"value": "a@x.example"}, {"value": "b@x.example", "label": "home"}],
                "phones": [{"value": "1"}, {"value": "2", "primary": True}],
            },
        )
    )
    assert person["org_id"] == org["id"]
    assert person["first_name"] == "Grace" and person["last_name"] == "Brewster Hopper"
    assert person["emails"] == [
        {"value": "a@x.example", "primary": True, "label": "work"},
        {"value": "b@x.example", "primary": False, "label": "home"},
    ]
    assert [p["primary"] for p in person["phones"]] == [False, True]
    split = _ok(api.post(_url(api, "/api/v2/persons"), json={"first_name": "Ada", "last_name": "Lovelace"}))
    assert split["name"] == "Ada Lovelace"


def test_get_patch_and_option_labels(api: Api) -> None:
    tier = _field(api, "organization", "Tier", "enum", options=[{"label": "Gold"}, {"label": "Silver"}])
    tags = _field(api, "organization", "Tags", "set", options=[{"label": "a"}, {"label": "b"}])
    gold, silver = (o["id"] for o in tier["options"])
    org = _create_org(
        api, "Acme", custom_fields={tier["field_code"]: gold, tags["field_code"]: [tags["options"][1]["id"]]}
    )
    patched = _ok(
        api.patch(
            _url(api, f"/api/v2/organizations/{org['id']}"),
            json={
                "name": "Acme Inc",
                "custom_fields": {tier["field_code"]: silver, tags["field_code"]: None},
            },
        )
    )
    assert patched["name"] == "Acme Inc"
    assert patched["custom_fields"] == {tier["field_code"]: silver, tags["field_code"]: None}
    labelled = _ok(
        api.get(_url(api, f"/api/v2/organizations/{org['id']}"), params={"include_option_labels": "true"})
    )
    assert labelled["custom_fields"][tier["field_code"]] == {"id": silver, "label": "Silver"}
    only = _ok(
        api.get(_url(api, f"/api/v2/organizations/{org['id']}"), params={"custom_fields": tags["field_code"]})
    )
    assert list(only["custom_fields"]) == [tags["field_code"]]


def test_cursor_paging_visits_every_record_once(api: Api) -> None:
    ids = {_create_org(api, f"Org {i}")["id"] for i in range(7)}
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = api.get(_url(api, "/api/v2/organizations"), params=params).json()
        seen += [o["id"] for o in body["data"]]
        pages += 1
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            break
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        assert decoded == {"field": "id", "fieldValue": seen[-1], "sortDirection": "asc", "id": seen[-1]}
    assert pages == 3 and seen == sorted(ids)
    desc = api.get(_url(api, "/api/v2/organizations"), params={"sort_direction": "desc"}).json()["data"]
    assert [o["id"] for o in desc] == sorted(ids, reverse=True)


def test_updated_since_until_ids_and_org_filters(api: Api) -> None:
    first = _create_org(api, "Old")
    # Timestamps have whole seconds: move to the next second before the second write.
    time.sleep(1.05 - time.time() % 1)
    second = _create_org(api, "New")
    since = api.get(
        _url(api, "/api/v2/organizations"), params={"updated_since": second["update_time"]}
    ).json()
    assert [o["id"] for o in since["data"]] == [second["id"]]
    until = api.get(
        _url(api, "/api/v2/organizations"), params={"updated_until": second["update_time"]}
    ).json()
    assert [o["id"] for o in until["data"]] == [first["id"]]
    by_ids = api.get(_url(api, "/api/v2/organizations"), params={"ids": f"{second['id']},999"}).json()
    assert [o["id"] for o in by_ids["data"]] == [second["id"]]
    _ok(api.post(_url(api, "/api/v2/persons"), json={"name": "In", "org_id": first["id"]}))
    _ok(api.post(_url(api, "/api/v2/persons"), json={"name": "Out"}))
    members = api.get(_url(api, "/api/v2/persons"), params={"org_id": first["id"]}).json()["data"]
    assert [p["name"] for p in members] == ["In"]


def test_delete_is_soft_and_the_record_is_gone_for_every_route(api: Api) -> None:
    org = _create_org(api, "Doomed Ltd")
    keep = _create_org(api, "Kept Ltd")
    assert _ok(api.delete(_url(api, f"/api/v2/organizations/{org['id']}"))) == {"id": org["id"]}
    for response in (
        api.get(_url(api, f"/api/v2/organizations/{org['id']}")),
        api.patch(_url(api, f"/api/v2/organizations/{org['id']}"), json={"name": "Back"}),
        api.delete(_url(api, f"/api/v2/organizations/{org['id']}")),
    ):
        assert response.status_code == 404
        assert response.json()["success"] is False
    listed = [o["id"] for o in api.get(_url(api, "/api/v2/organizations")).json()["data"]]
    assert listed == [keep["id"]]
    found = api.get(_url(api, "/api/v2/organizations/search"), params={"term": "Doomed"}).json()
    assert found["data"]["items"] == []
    assert api.post(_url(api, "/api/v2/persons"), json={"name": "X", "org_id": org["id"]}).status_code == 400


def test_search_exact_match_fields_and_searchable_types(api: Api) -> None:
    wid = _field(api, "organization", "Workday ID", "varchar")
    tier = _field(api, "organization", "Tier", "enum", options=[{"label": "Gold"}])
    _create_org(api, "Acme Holdings", custom_fields={wid["field_code"]: "CUST-0042"})
    _create_org(api, "Acme", address={"value": "Main Street 1"})
    _create_org(api, "Other", custom_fields={tier["field_code"]: tier["options"][0]["id"]})

    def names(**params: Any) -> list[str]:
        body = api.get(_url(api, "/api/v2/organizations/search"), params=params).json()
        assert body["success"] is True, body
        return sorted(i["item"]["name"] for i in body["data"]["items"])

    assert names(term="acme") == ["Acme", "Acme Holdings"]
    assert names(term="ACME", exact_match="true") == ["Acme"]
    assert names(term="cust-0042", exact_match="true") == ["Acme Holdings"]
    assert names(term="CUST-004", exact_match="true") == []
    assert names(term="CUST-0042", fields="name") == []
    assert names(term="main street", fields="address") == ["Acme"]
    assert names(term=str(tier["options"][0]["id"]), exact_match="true") == []  # enum is not searchable
    hit = api.get(_url(api, "/api/v2/organizations/search"), params={"term": "CUST-0042"}).json()
    assert hit["data"]["items"][0]["item"]["custom_fields"] == ["CUST-0042"]
    assert api.get(_url(api, "/api/v2/organizations/search"), params={"term": "A"}).status_code == 400
    assert names(term="A", exact_match="true") == []


def test_person_search_by_email_and_organization(api: Api) -> None:
    org = _create_org(api, "Acme")
    body = {"name": "Ada", "org_id": org["id"], "emails": [{"value": "Ada@Acme.example"}]}
    person = _ok(api.post(_url(api, "/api/v2/persons"), json=body))
    _ok(
        api.post(
            _url(api, "/api/v2/persons"),
            json={"name": "Ada Other", "emails": [{"value": "ada@other.example"}]},
        )
    )
    params = {"term": "ada@acme.example", "fields": "email", "exact_match": "true"}
    items = api.get(_url(api, "/api/v2/persons/search"), params=params).json()["data"]["items"]
    assert [i["item"]["id"] for i in items] == [person["id"]]
    assert items[0]["item"]["organization"]["id"] == org["id"]
    in_org = api.get(
        _url(api, "/api/v2/persons/search"), params={"term": "Ada", "organization_id": org["id"]}
    )
    assert [i["item"]["id"] for i in in_org.json()["data"]["items"]] == [person["id"]]


def test_search_paging_uses_cursors(api: Api) -> None:
    for i in range(5):
        _create_org(api, f"Paged {i}")
    first = api.get(_url(api, "/api/v2/organizations/search"), params={"term": "Paged", "limit": 3}).json()
    assert len(first["data"]["items"]) == 3
    cursor = first["additional_data"]["next_cursor"]
    second = api.get(
        _url(api, "/api/v2/organizations/search"), params={"term": "Paged", "limit": 3, "cursor": cursor}
    )
    assert len(second.json()["data"]["items"]) == 2
    assert second.json()["additional_data"]["next_cursor"] is None


def test_search_index_lag_hides_new_and_changed_values_until_indexed(api: Api) -> None:
    lag = 0.6
    api.post(_url(api, "/_sandbox/pipedrive/settings"), json={"search_index_lag_s": lag}).raise_for_status()

    def found(term: str) -> list[int]:
        body = api.get(
            _url(api, "/api/v2/organizations/search"), params={"term": term, "exact_match": "true"}
        )
        return [i["item"]["id"] for i in body.json()["data"]["items"]]

    org = _create_org(api, "Lagging Co")
    assert found("Lagging Co") == []  # a find-then-create upsert would create a duplicate now
    assert _ok(api.get(_url(api, f"/api/v2/organizations/{org['id']}")))["name"] == "Lagging Co"
    time.sleep(lag + 0.1)
    assert found("Lagging Co") == [org["id"]]
    api.patch(_url(api, f"/api/v2/organizations/{org['id']}"), json={"name": "Renamed Co"})
    assert found("Renamed Co") == [] and found("Lagging Co") == [org["id"]]
    time.sleep(lag + 0.1)
    assert found("Renamed Co") == [org["id"]] and found("Lagging Co") == []


@pytest.mark.parametrize(
    ("fault", "answer"),
    [
        ({"kind": "lost_response"}, "dropped"),
        ({"kind": "lost_response", "status": 502}, 502),
        ({"kind": "lost_response", "status": 504, "delay_ms": 50}, 504),
    ],
    ids=["dropped", "502", "504-late"],
)
def test_a_lost_response_fault_applies_the_write_and_loses_its_answer(
    api: Api, fault: dict[str, Any], answer: object
) -> None:
    api.server.arm(route="POST /api/v2/organizations", **fault)
    try:
        got: object = api.post(_url(api, "/api/v2/organizations"), json={"name": "Stored anyway"}).status_code
    except requests.ConnectionError:
        got = "dropped"
    assert got == answer
    assert [o["name"] for o in api.records("organizations")] == ["Stored anyway"]  # the write happened
