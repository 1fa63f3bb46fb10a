"""v1 merge of organizations and persons over real HTTP: survivor, fill-in of empty fields, re-linked
persons, moved update times, the merged record gone, v1 errors, and the 40-token cost at the gate."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from support.sandbox import PipedriveApi

from ml_connector.sandbox.runtime import RunningSandbox

Api = PipedriveApi
MERGE_COST = 40  # x-token-cost of mergeOrganizations and mergePersons in the official v1 spec
V1_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


@pytest.fixture()
def api(fresh_sandbox: RunningSandbox) -> Iterator[Api]:
    """Limits off; the cost test turns them on."""
    with PipedriveApi(fresh_sandbox, rate_limits=False) as session:
        yield session


def _create(api: Api, plural: str, **body: Any) -> dict[str, Any]:
    return dict(api.data("POST", f"/api/v2/{plural}", json=body))


def _get(api: Api, plural: str, record_id: int) -> dict[str, Any]:
    return dict(api.data("GET", f"/api/v2/{plural}/{record_id}"))


def _field(api: Api, kind: str, name: str, field_type: str, **extra: Any) -> dict[str, Any]:
    body = {"field_name": name, "field_type": field_type, **extra}
    return dict(api.data("POST", f"/api/v2/{kind}Fields", json=body))


def _merge(api: Api, plural: str, record_id: int | str, body: Any) -> requests.Response:
    return api.call("PUT", f"/v1/{plural}/{record_id}/merge", json=body)


def _ids(api: Api, plural: str, **params: Any) -> list[int]:
    return [r["id"] for r in api.data("GET", f"/api/v2/{plural}", params=params)]


def _next_second() -> None:
    """Timestamps have whole seconds: step into the next one so a later write shows as later."""
    time.sleep(1.05 - time.time() % 1)


def _assert_v1_error(response: requests.Response, status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and isinstance(body["error"], str) and body["error"]
    assert isinstance(body["error_info"], str)
    assert body["data"] is None and body["additional_data"] is None


def test_organization_merge_keeps_the_survivor_fills_its_empty_fields_and_relinks_persons(api: Api) -> None:
    wid = _field(api, "organization", "Workday ID", "varchar")["field_code"]
    tier = _field(api, "organization", "Tier", "enum", options=[{"label": "Gold"}, {"label": "Silver"}])
    gold = tier["options"][0]["id"]
    revenue = _field(api, "organization", "Revenue", "monetary")["field_code"]
    survivor = _create(
        api, "organizations", name="Acme", website="https://acme.example", custom_fields={wid: "C-1"}
    )
    gone = _create(
        api,
        "organizations",
        name="Acme Inc",
        website="https://acme-inc.example",
        linkedin="https://linkedin.example/acme",
        employee_count=12,
        label_ids=[2],
        address={"value": "1 Main St"},
        custom_fields={
            wid: "C-2",
            tier["field_code"]: gold,
            revenue: {"value": 1000, "currency": "EUR"},
        },
    )
    bystander = _create(api, "organizations", name="Other Co")
    moved = [_create(api, "persons", name=f"Moved {i}", org_id=gone["id"])["id"] for i in range(2)]
    stayed = _create(api, "persons", name="Stayed", org_id=survivor["id"])["id"]
    loose = _create(api, "persons", name="Loose")["id"]
    _next_second()

    response = _merge(api, "organizations", gone["id"], {"merge_with_id": survivor["id"]})

    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "data": {"id": survivor["id"]}}
    merged = _get(api, "organizations", survivor["id"])
    assert merged["name"] == "Acme" and merged["website"] == "https://acme.example"  # its own values win
    assert merged["linkedin"] == "https://linkedin.example/acme" and merged["employee_count"] == 12
    assert merged["label_ids"] == [2] and merged["address"]["value"] == "1 Main St"
    assert merged["custom_fields"] == {
        wid: "C-1",
        tier["field_code"]: gold,
        revenue: {"value": 1000, "currency": "EUR"},
    }
    assert merged["add_time"] == survivor["add_time"]
    assert merged["update_time"] > survivor["update_time"]
    # The merged organization answers as a deleted one does, on every route.
    deleted = _create(api, "organizations", name="Deleted")
    api.data("DELETE", f"/api/v2/organizations/{deleted['id']}")
    as_deleted = api.call("GET", f"/api/v2/organizations/{deleted['id']}")
    after = api.call("GET", f"/api/v2/organizations/{gone['id']}")
    assert after.status_code == as_deleted.status_code == 404
    assert after.json() == as_deleted.json()
    assert api.call("PATCH", f"/api/v2/organizations/{gone['id']}", json={"name": "X"}).status_code == 404
    assert api.call("POST", "/api/v2/persons", json={"name": "X", "org_id": gone["id"]}).status_code == 400
    assert gone["id"] not in _ids(api, "organizations")
    # Its persons now belong to the survivor, and their update time moved.
    assert _ids(api, "persons", org_id=survivor["id"]) == sorted([*moved, stayed])
    assert _ids(api, "persons", org_id=gone["id"]) == []
    person = _get(api, "persons", moved[0])
    assert person["org_id"] == survivor["id"]
    assert _get(api, "persons", stayed)["update_time"] < person["update_time"]
    # An incremental reader sees exactly what the merge changed.
    since = merged["update_time"]
    assert _ids(api, "organizations", updated_since=since) == [survivor["id"]]
    assert _ids(api, "persons", updated_since=since) == moved
    assert bystander["id"] in _ids(api, "organizations") and loose in _ids(api, "persons")
    # Search forgets the merged organization and finds moved persons under the survivor.
    names = api.data("GET", "/api/v2/organizations/search", params={"term": "Acme"})["items"]
    assert [hit["item"]["id"] for hit in names] == [survivor["id"]]
    hits = api.data(
        "GET", "/api/v2/persons/search", params={"term": "Moved", "organization_id": survivor["id"]}
    )["items"]
    assert sorted(hit["item"]["id"] for hit in hits) == moved


def test_person_merge_answers_the_merged_v1_person_item(api: Api) -> None:
    contact_id = _field(api, "person", "Contact ID", "varchar")["field_code"]
    role = _field(api, "person", "Role", "enum", options=[{"label": "Buyer"}, {"label": "Signer"}])
    buyer = role["options"][0]["id"]
    budget = _field(api, "person", "Budget", "monetary")["field_code"]
    org = _create(api, "organizations", name="Acme")
    survivor = _create(
        api,
        "persons",
        name="Ada Lovelace",
        emails=[{"value": "ada@acme.example"}],
        custom_fields={contact_id: "P-1"},
    )
    gone = _create(
        api,
        "persons",
        name="Ada King",
        org_id=org["id"],
        emails=[{"value": "ada.king@other.example", "label": "home"}],
        phones=[{"value": "+1 555 0100", "label": "mobile"}],
        label_ids=[3],
        job_title="Analyst",
        custom_fields={contact_id: "P-2", role["field_code"]: buyer, budget: {"value": 5, "currency": "USD"}},
    )
    _next_second()

    response = _merge(api, "persons", gone["id"], {"merge_with_id": survivor["id"]})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    item = body["data"]
    expected = {
        "id": survivor["id"],
        "merge_what_id": gone["id"],
        "company_id": 1,
        "owner_id": 1,
        "owner_name": "Sandbox Admin",
        "org_id": org["id"],
        "org_name": "Acme",
        "name": "Ada Lovelace",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "first_char": "a",
        "active_flag": True,
        "visible_to": "3",
        "label": 3,
        "label_ids": [3],
        "email": [{"value": "ada@acme.example", "primary": True, "label": "work"}],
        "phone": [{"value": "+1 555 0100", "primary": True, "label": "mobile"}],
        "open_deals_count": 0,
        "activities_count": 0,
        "next_activity_date": None,
        "picture_id": None,
        contact_id: "P-1",
        role["field_code"]: str(buyer),
        budget: 5,
        f"{budget}_currency": "USD",
    }
    assert {key: item.get(key) for key in expected} == expected
    assert V1_TIME.match(item["update_time"]) and V1_TIME.match(item["add_time"])
    assert item["update_time"] > item["add_time"]
    merged = _get(api, "persons", survivor["id"])
    assert merged["emails"] == [{"value": "ada@acme.example", "primary": True, "label": "work"}]
    assert merged["phones"] == [{"value": "+1 555 0100", "primary": True, "label": "mobile"}]
    assert merged["org_id"] == org["id"] and merged["job_title"] == "Analyst"
    assert merged["custom_fields"][role["field_code"]] == buyer
    assert merged["custom_fields"][contact_id] == "P-1"
    assert merged["update_time"] > survivor["update_time"]
    _assert_v1_error(api.call("GET", f"/api/v2/persons/{gone['id']}"), 404)
    assert _ids(api, "persons") == [survivor["id"]]
    assert _ids(api, "persons", updated_since=merged["update_time"]) == [survivor["id"]]
    assert _ids(api, "organizations", updated_since=merged["update_time"]) == []


def test_a_person_without_phones_gets_v1_blank_entry_and_no_org(api: Api) -> None:
    survivor = _create(api, "persons", name="Grace")
    gone = _create(api, "persons", name="G. Hopper")
    item = _merge(api, "persons", gone["id"], {"merge_with_id": survivor["id"]}).json()["data"]
    assert item["phone"] == item["email"] == [{"value": "", "primary": True}]
    assert item["org_id"] is None and item["org_name"] is None and item["label"] is None
    assert item["name"] == "Grace" and item["last_name"] == ""  # name parts are never filled in


@pytest.mark.parametrize("plural", ["organizations", "persons"])
@pytest.mark.parametrize(
    "body",
    [
        {},
        {"merge_with_id": None},
        {"merge_with_id": "2"},
        {"merge_with_id": 2.0},
        {"merge_with_id": True},
        {"merge_with_id": [2]},
        [{"merge_with_id": 2}],
    ],
    ids=["missing", "null", "string", "float", "boolean", "array", "body-not-object"],
)
def test_a_missing_or_non_integer_merge_with_id_is_a_v1_400(api: Api, plural: str, body: Any) -> None:
    first, second = (_create(api, plural, name=f"R{i}")["id"] for i in range(2))
    assert second == 2  # the bodies name a record that exists: only the type is wrong
    _assert_v1_error(_merge(api, plural, first, body), 400)
    assert _ids(api, plural) == [first, second]  # nothing changed


@pytest.mark.parametrize("plural", ["organizations", "persons"])
def test_bad_bodies_and_self_merge_are_v1_400s(api: Api, plural: str) -> None:
    record = _create(api, plural, name="Solo")["id"]
    url = f"/v1/{plural}/{record}/merge"
    _assert_v1_error(
        api.call("PUT", url, data=b"{not json", headers={"content-type": "application/json"}), 400
    )
    _assert_v1_error(api.call("PUT", url), 400)  # no body at all
    _assert_v1_error(_merge(api, plural, record, {"merge_with_id": record}), 400)
    assert _get(api, plural, record)["update_time"] == _get(api, plural, record)["add_time"]


@pytest.mark.parametrize("plural", ["organizations", "persons"])
def test_unknown_or_deleted_records_are_v1_404s(api: Api, plural: str) -> None:
    a, b, deleted, merged = (_create(api, plural, name=f"R{i}")["id"] for i in range(4))
    api.data("DELETE", f"/api/v2/{plural}/{deleted}")
    assert _merge(api, plural, merged, {"merge_with_id": b}).status_code == 200
    for record_id, merge_with in [
        (999, a),  # unknown id
        (a, 999),  # unknown merge_with_id
        (deleted, a),
        (a, deleted),
        (merged, a),  # already merged away
        (a, merged),
        (a, -1),
        ("abc", a),  # not an id at all
    ]:
        _assert_v1_error(_merge(api, plural, record_id, {"merge_with_id": merge_with}), 404)
    assert _ids(api, plural) == [a, b]
    assert _get(api, plural, a)["update_time"] == _get(api, plural, a)["add_time"]


def test_a_merge_costs_40_tokens_and_shows_in_stats(fresh_sandbox: RunningSandbox) -> None:
    with PipedriveApi(fresh_sandbox) as api:  # limits on
        pairs = {
            p: [_create(api, p, name=f"R{i}")["id"] for i in range(2)] for p in ("organizations", "persons")
        }
        before = api.stats()
        responses = [_merge(api, p, ids[0], {"merge_with_id": ids[1]}) for p, ids in pairs.items()]
        assert [r.status_code for r in responses] == [200, 200]
        after = api.stats()
        assert after["tokens_spent"] - before["tokens_spent"] == 2 * MERGE_COST
        assert before["daily_tokens_remaining"] - after["daily_tokens_remaining"] == 2 * MERGE_COST
        for plural in pairs:
            assert after["by_route"][f"PUT /v1/{plural}/{{id}}/merge"] == 1
        last = responses[-1]
        assert last.headers["x-daily-ratelimit-token-remaining"] == str(after["daily_tokens_remaining"])
        assert last.headers["x-ratelimit-limit"] == "40"
        assert int(last.headers["x-daily-requests-left"]) < 10_000  # a PUT is a write
        # Errors pass the gate too and are charged in full.
        _assert_v1_error(_merge(api, "organizations", 999, {"merge_with_id": 1}), 404)
        assert api.stats()["tokens_spent"] == after["tokens_spent"] + MERGE_COST


def test_a_merge_over_the_daily_budget_is_refused_and_not_applied(fresh_sandbox: RunningSandbox) -> None:
    with PipedriveApi(fresh_sandbox) as api:
        a, b = (_create(api, "organizations", name=f"R{i}")["id"] for i in range(2))
        api.settings(daily_tokens_remaining=MERGE_COST - 1)
        refused = _merge(api, "organizations", a, {"merge_with_id": b})
        assert refused.status_code == 429
        assert refused.json() == {"success": False, "error": "Rate limit exceeded", "errorCode": 429}
        assert api.call("GET", f"/api/v2/organizations/{a}").status_code == 200  # 1 token still fits
        api.settings(daily_tokens_remaining=MERGE_COST)
        assert _merge(api, "organizations", a, {"merge_with_id": b}).status_code == 200
        assert api.stats()["daily_tokens_remaining"] == 0


def test_merge_needs_auth_and_takes_armed_faults(api: Api) -> None:
    a, b = (_create(api, "organizations", name=f"R{i}")["id"] for i in range(2))
    anonymous = requests.put(f"{api.base}/v1/organizations/{a}/merge", json={"merge_with_id": b}, timeout=10)
    assert anonymous.status_code == 401
    api.server.arm(route="PUT /v1/organizations/{id}/merge", kind="status", status=503)
    _assert_v1_error(_merge(api, "organizations", a, {"merge_with_id": b}), 503)
    assert api.stats()["tokens_spent"] == 2 * 5  # the two creates; the refused merges cost nothing
    assert _ids(api, "organizations") == [a, b]  # neither attempt merged anything
