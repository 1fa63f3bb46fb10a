"""Contract: sandbox responses validate against the official Pipedrive OpenAPI files.

Each response of a realistic session (fields via v1 and v2, orgs and persons with custom fields of
several types, list/get/patch/delete/search, v1 merge, OAuth, users/me) is matched to its operation in the
vendored v1/v2 specs and validated against that operation's schema for the returned status, where
the spec declares one. The schemas are the facts ``make reference`` derives from the official spec
files (``tests/reference/pipedrive_operations.json``, checked against them by ``test_reference.py``).

One documented relaxation: the specs omit ``nullable`` on properties the real API returns as
``null`` (a person's ``org_id`` without organization, ``picture_id``, an unset address and its
unset subfields, ``next_cursor`` on the last page, a person hit's ``organization``). Only those
property names may be null beyond what the spec says.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from openapi_schema_validator import OAS30Validator
from reference.derive import OPERATIONS, match_template

from ml_connector.sandbox.runtime import RunningSandbox

NULL_IN_PRACTICE = frozenset(
    {
        "org_id",
        "picture_id",
        "address",
        "next_cursor",
        "organization",
        "country",
        "admin_area_level_1",
        "admin_area_level_2",
        "locality",
        "sublocality",
        "route",
        "street_number",
        "subpremise",
        "postal_code",
    }
)


class Spec:
    """One OpenAPI document as committed in ``tests/reference``: its path templates and the response
    schemas of the operations the sandbox serves."""

    def __init__(self, prefix: str, facts: dict[str, Any]) -> None:
        self.prefix = prefix
        self.templates: list[str] = facts["templates"]
        self.operations: dict[str, dict[str, Any]] = facts["operations"]

    def template(self, path: str) -> str | None:
        if not path.startswith(self.prefix):
            return None
        return match_template(self.templates, path[len(self.prefix) :])

    def response_schema(self, template: str, method: str, status: int) -> dict[str, Any] | None:
        op = self.operations.get(f"{method.upper()} {template}")
        if op is None:
            raise AssertionError(f"the spec has no {method} {template} (or the sandbox does not serve it)")
        schema = op.get(str(status))
        return _relax(schema) if schema is not None else None


def _relax(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _relax(v) for k, v in node.items()}
        for name, prop in out.get("properties", {}).items():
            if name in NULL_IN_PRACTICE and isinstance(prop, dict):
                prop["nullable"] = True
        return out
    if isinstance(node, list):
        return [_relax(v) for v in node]
    return node


class ContractSession(requests.Session):
    """A session that validates every response it gets and records which operations it covered."""

    def __init__(self, specs: list[Spec], base_url: str) -> None:
        super().__init__()
        self.specs = specs
        self.base_url = base_url
        self.validated: set[tuple[str, str, int]] = set()

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        full = url if str(url).startswith("http") else f"{self.base_url}{url!s}"
        response = super().request(method, full, *args, **kwargs)
        self._check(str(method).upper(), response)
        return response

    def _check(self, method: str, response: requests.Response) -> None:
        path = urlsplit(response.url).path
        if path.startswith("/_sandbox"):
            return
        for spec in self.specs:
            template = spec.template(path)
            if template is None:
                continue
            schema = spec.response_schema(template, method, response.status_code)
            if schema is not None:
                errors = list(OAS30Validator(schema).iter_errors(response.json()))
                assert not errors, f"{method} {path} -> {response.status_code}: {errors[0]}"
                self.validated.add((method, spec.prefix + template, response.status_code))
            return
        raise AssertionError(f"no spec operation for {method} {path}")


@pytest.fixture(scope="module")
def specs() -> list[Spec]:
    facts = json.loads(OPERATIONS.read_text(encoding="utf-8"))
    # longest prefix first: /api/v2 and /v1 before the OAuth server's root
    return [Spec(prefix, facts[prefix]) for prefix in sorted(facts, key=len, reverse=True)]


@pytest.fixture()
def api(fresh_sandbox: RunningSandbox, specs: list[Spec]) -> Iterator[ContractSession]:
    session = ContractSession(specs, fresh_sandbox.pipedrive_url)
    session.headers["x-api-token"] = fresh_sandbox.config.pipedrive.api_token
    requests.post(
        f"{fresh_sandbox.pipedrive_url}/_sandbox/pipedrive/settings",
        json={"enforce_rate_limits": False},
        timeout=5,
    ).raise_for_status()
    yield session
    session.close()


def _data(response: requests.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_records_fields_and_search_match_the_spec(api: ContractSession) -> None:
    # Fields through both APIs, several types.
    tier = _data(
        api.post(
            "/api/v2/organizationFields",
            json={
                "field_name": "Tier",
                "field_type": "enum",
                "options": [{"label": "Gold"}, {"label": "Silver"}],
            },
        )
    )
    tags = _data(
        api.post(
            "/api/v2/organizationFields",
            json={"field_name": "Tags", "field_type": "set", "options": [{"label": "a"}, {"label": "b"}]},
        )
    )
    wid = _data(api.post("/v1/organizationFields", json={"name": "Workday ID", "field_type": "varchar"}))
    revenue = _data(api.post("/v1/organizationFields", json={"name": "Revenue", "field_type": "monetary"}))
    score = _data(
        api.post("/api/v2/organizationFields", json={"field_name": "Score", "field_type": "double"})
    )
    hq = _data(api.post("/api/v2/organizationFields", json={"field_name": "HQ", "field_type": "address"}))
    since = _data(api.post("/api/v2/organizationFields", json={"field_name": "Since", "field_type": "date"}))
    pid = _data(api.post("/v1/personFields", json={"name": "Contact ID", "field_type": "varchar"}))
    role = _data(
        api.post(
            "/v1/personFields", json={"name": "Role", "field_type": "enum", "options": [{"label": "Buyer"}]}
        )
    )

    _data(api.get("/api/v2/organizationFields", params={"include_fields": "ui_visibility", "limit": 3}))
    _data(api.get("/api/v2/personFields"))
    _data(api.get(f"/api/v2/organizationFields/{tier['field_code']}"))
    _data(api.patch(f"/api/v2/organizationFields/{tier['field_code']}", json={"field_name": "Customer tier"}))
    added = _data(
        api.post(f"/api/v2/organizationFields/{tier['field_code']}/options", json=[{"label": "Bronze"}])
    )
    _data(
        api.patch(
            f"/api/v2/organizationFields/{tier['field_code']}/options",
            json=[{"id": added[0]["id"], "label": "B"}],
        )
    )
    _data(
        api.delete(f"/api/v2/organizationFields/{tier['field_code']}/options", json=[{"id": added[0]["id"]}])
    )
    _data(api.get("/v1/organizationFields", params={"start": 0, "limit": 5}))
    _data(api.get("/v1/personFields"))
    _data(api.get(f"/v1/personFields/{role['id']}"))
    options = [*role["options"], {"label": "Signer"}]
    _data(api.put(f"/v1/personFields/{role['id']}", json={"name": "Role", "options": options}))
    gone = _data(api.post("/v1/organizationFields", json={"name": "Temp", "field_type": "text"}))
    _data(api.delete(f"/v1/organizationFields/{gone['id']}"))
    temp2 = _data(api.post("/api/v2/personFields", json={"field_name": "Temp2", "field_type": "phone"}))
    _data(api.delete(f"/api/v2/personFields/{temp2['field_code']}"))
    temp3 = _data(api.post("/v1/personFields", json={"name": "Temp3", "field_type": "text"}))
    _data(api.delete("/v1/personFields", params={"ids": str(temp3["id"])}))

    # Organizations and persons with custom values of every kind above.
    org_ids = []
    for i in range(5):
        custom = {
            tier["field_code"]: tier["options"][i % 2]["id"],
            tags["field_code"]: [tags["options"][0]["id"]],
            wid["key"]: f"C-{i:03d}",
            revenue["key"]: {"value": 1000.5 * i, "currency": "EUR"},
            score["field_code"]: i / 2,
            hq["field_code"]: {"value": f"{i} Main St", "locality": "Springfield"},
            since["field_code"]: "2024-01-31",
        }
        body: dict[str, Any] = {"name": f"Acme {i}", "custom_fields": custom, "label_ids": [1]}
        if i % 2:
            body["address"] = {"value": f"{i} Side St", "country": "US", "postal_code": "12345"}
        org_ids.append(_data(api.post("/api/v2/organizations", json=body))["id"])
    person_ids = []
    for i in range(4):
        body = {
            "name": f"Ada Lovelace {i}",
            "emails": [{"value": f"ada{i}@acme.example", "label": "work"}],
            "phones": [{"value": f"+1 555 01{i:02d}", "primary": True, "label": "mobile"}],
            "custom_fields": {pid["key"]: f"P-{i}", role["key"]: role["options"][0]["id"]},
        }
        if i % 2:
            body["org_id"] = org_ids[0]
        person_ids.append(_data(api.post("/api/v2/persons", json=body))["id"])

    _data(api.get("/api/v2/organizations", params={"limit": 2}))
    page = api.get(
        "/api/v2/organizations", params={"limit": 2, "sort_by": "update_time", "sort_direction": "desc"}
    )
    cursor = page.json()["additional_data"]["next_cursor"]
    _data(
        api.get(
            "/api/v2/organizations",
            params={"limit": 2, "sort_by": "update_time", "sort_direction": "desc", "cursor": cursor},
        )
    )
    _data(
        api.get(
            "/api/v2/organizations",
            params={"include_option_labels": "true", "ids": ",".join(map(str, org_ids[:3]))},
        )
    )
    _data(api.get("/api/v2/persons", params={"org_id": org_ids[0]}))
    _data(api.get("/api/v2/persons", params={"custom_fields": pid["key"]}))
    _data(api.get(f"/api/v2/organizations/{org_ids[1]}"))
    _data(api.get(f"/api/v2/persons/{person_ids[1]}", params={"include_option_labels": "true"}))
    _data(
        api.patch(
            f"/api/v2/organizations/{org_ids[2]}",
            json={"name": "Acme Two", "custom_fields": {tags["field_code"]: None}},
        )
    )
    _data(
        api.patch(
            f"/api/v2/persons/{person_ids[0]}",
            json={"org_id": org_ids[3], "emails": [{"value": "x@y.example"}]},
        )
    )
    _data(api.get("/api/v2/organizations/search", params={"term": "Acme", "limit": 2}))
    _data(
        api.get(
            "/api/v2/organizations/search",
            params={"term": "c-001", "exact_match": "true", "fields": "custom_fields"},
        )
    )
    _data(api.get("/api/v2/persons/search", params={"term": "ada1@acme.example", "fields": "email"}))
    _data(api.get("/api/v2/persons/search", params={"term": "Ada", "organization_id": org_ids[0]}))
    _data(api.delete(f"/api/v2/organizations/{org_ids[4]}"))
    _data(api.delete(f"/api/v2/persons/{person_ids[3]}"))
    # v1 merges: the organization answers its survivor's id, the person the merged v1 person item.
    _data(api.put(f"/v1/organizations/{org_ids[3]}/merge", json={"merge_with_id": org_ids[0]}))
    _data(api.put(f"/v1/persons/{person_ids[2]}/merge", json={"merge_with_id": person_ids[1]}))
    _data(api.get("/v1/users/me"))

    expected = {
        (m, p)
        for m, p in [
            ("GET", "/api/v2/organizations"),
            ("POST", "/api/v2/organizations"),
            ("GET", "/api/v2/organizations/{id}"),
            ("PATCH", "/api/v2/organizations/{id}"),
            ("DELETE", "/api/v2/organizations/{id}"),
            ("GET", "/api/v2/organizations/search"),
            ("GET", "/api/v2/persons"),
            ("POST", "/api/v2/persons"),
            ("GET", "/api/v2/persons/{id}"),
            ("PATCH", "/api/v2/persons/{id}"),
            ("DELETE", "/api/v2/persons/{id}"),
            ("GET", "/api/v2/persons/search"),
            ("GET", "/api/v2/organizationFields"),
            ("POST", "/api/v2/organizationFields"),
            ("GET", "/api/v2/organizationFields/{field_code}"),
            ("PATCH", "/api/v2/organizationFields/{field_code}"),
            ("POST", "/api/v2/organizationFields/{field_code}/options"),
            ("PATCH", "/api/v2/organizationFields/{field_code}/options"),
            ("DELETE", "/api/v2/organizationFields/{field_code}/options"),
            ("GET", "/api/v2/personFields"),
            ("POST", "/api/v2/personFields"),
            ("DELETE", "/api/v2/personFields/{field_code}"),
            ("GET", "/v1/organizationFields"),
            ("POST", "/v1/organizationFields"),
            ("DELETE", "/v1/organizationFields/{id}"),
            ("GET", "/v1/personFields"),
            ("POST", "/v1/personFields"),
            ("GET", "/v1/personFields/{id}"),
            ("PUT", "/v1/personFields/{id}"),
            ("DELETE", "/v1/personFields"),
            ("PUT", "/v1/organizations/{id}/merge"),
            ("PUT", "/v1/persons/{id}/merge"),
            ("GET", "/v1/users/me"),
        ]
    }
    covered = {(m, p) for m, p, _ in api.validated}
    assert expected <= covered, sorted(expected - covered)


def test_oauth_token_and_declared_401_match_the_spec(
    api: ContractSession, fresh_sandbox: RunningSandbox
) -> None:
    creds = fresh_sandbox.config.pipedrive
    token = api.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": creds.refresh_token},
        auth=(creds.client_id, creds.client_secret),
    )
    assert token.status_code == 200, token.text
    anonymous = ContractSession(api.specs, api.base_url)
    assert anonymous.get("/v1/users/me").status_code == 401
    bearer = ContractSession(api.specs, api.base_url)
    bearer.headers["authorization"] = f"Bearer {token.json()['access_token']}"
    assert bearer.get("/v1/users/me").status_code == 200
    covered = api.validated | anonymous.validated | bearer.validated
    assert ("POST", "/oauth/token", 200) in covered
    assert ("GET", "/v1/users/me", 401) in covered
    assert ("GET", "/v1/users/me", 200) in covered
