"""The Workday sandbox over real HTTP: OAuth2, REST customers, RaaS, control routes, throttling."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import requests
from lxml import etree

from ml_connector.sandbox.runtime import RunningSandbox

CUSTOMERS_REPORT = "ML_Connector_Customers"
SUPPLIERS_REPORT = "ML_Connector_Suppliers"


def token_response(sb: RunningSandbox, refresh: str | None = None, **kwargs: Any) -> requests.Response:
    creds = sb.config.workday
    data = {"grant_type": "refresh_token", "refresh_token": refresh or creds.refresh_token}
    kwargs.setdefault("auth", (creds.client_id, creds.client_secret))
    return requests.post(f"{sb.workday_url}/ccx/oauth2/{creds.tenant}/token", data=data, timeout=10, **kwargs)


def bearer(sb: RunningSandbox) -> dict[str, str]:
    response = token_response(sb)
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def rest_url(sb: RunningSandbox, suffix: str = "") -> str:
    return f"{sb.workday_url}/ccx/api/customerAccounts/v1/{sb.config.workday.tenant}/customers{suffix}"


def raas_url(sb: RunningSandbox, report: str) -> str:
    w = sb.config.workday
    return f"{sb.workday_url}/ccx/service/customreport2/{w.tenant}/{w.raas_owner}/{report}"


def isu(sb: RunningSandbox) -> tuple[str, str]:
    return sb.config.workday.isu_username, sb.config.workday.isu_password


# -- OAuth2 ---------------------------------------------------------------------------------------------
def test_token_with_basic_client_auth(fresh_sandbox: RunningSandbox) -> None:
    response = token_response(fresh_sandbox)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == fresh_sandbox.config.access_token_ttl_s
    assert body["refresh_token"] == fresh_sandbox.config.workday.refresh_token  # no rotation by default
    assert response.headers["cache-control"] == "no-store"


def test_token_with_form_client_credentials(fresh_sandbox: RunningSandbox) -> None:
    creds = fresh_sandbox.config.workday
    form = {"client_id": creds.client_id, "client_secret": creds.client_secret}
    response = requests.post(
        f"{fresh_sandbox.workday_url}/ccx/oauth2/{creds.tenant}/token",
        data={"grant_type": "refresh_token", "refresh_token": creds.refresh_token, **form},
        timeout=10,
    )
    assert response.status_code == 200 and response.json()["access_token"]


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"refresh": "not-a-token"}, 400, "invalid_grant"),
        ({"auth": ("ml-connector-sandbox", "wrong")}, 401, "invalid_client"),
        ({"auth": None}, 401, "invalid_client"),
    ],
)
def test_token_errors_follow_rfc_6749(
    fresh_sandbox: RunningSandbox, change: dict[str, Any], status: int, error: str
) -> None:
    response = token_response(fresh_sandbox, **change)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["error_description"]


def test_unsupported_grant_and_wrong_tenant(fresh_sandbox: RunningSandbox) -> None:
    creds = fresh_sandbox.config.workday
    auth = (creds.client_id, creds.client_secret)
    url = f"{fresh_sandbox.workday_url}/ccx/oauth2/{creds.tenant}/token"
    response = requests.post(url, data={"grant_type": "password"}, auth=auth, timeout=10)
    assert (response.status_code, response.json()["error"]) == (400, "unsupported_grant_type")
    response = requests.post(url, data={"grant_type": "refresh_token"}, auth=auth, timeout=10)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    other = f"{fresh_sandbox.workday_url}/ccx/oauth2/other/token"
    assert (
        requests.post(other, data={"grant_type": "refresh_token"}, auth=auth, timeout=10).status_code == 404
    )


def test_rotation_switch_invalidates_the_used_refresh_token(fresh_sandbox: RunningSandbox) -> None:
    url = fresh_sandbox.workday_url
    requests.post(f"{url}/_sandbox/oauth", json={"rotate": True}, timeout=10).raise_for_status()
    first = token_response(fresh_sandbox).json()
    assert first["refresh_token"] != fresh_sandbox.config.workday.refresh_token
    assert token_response(fresh_sandbox).json()["error"] == "invalid_grant"  # the old one is spent
    second = token_response(fresh_sandbox, refresh=first["refresh_token"])
    assert second.status_code == 200 and second.json()["refresh_token"] != first["refresh_token"]
    requests.post(f"{url}/_sandbox/oauth", json={"rotate": False}, timeout=10).raise_for_status()
    third = token_response(fresh_sandbox, refresh=second.json()["refresh_token"]).json()
    assert third["refresh_token"] == second.json()["refresh_token"]


# -- REST -----------------------------------------------------------------------------------------------
def test_rest_paging_with_limit_offset_and_total(fresh_sandbox: RunningSandbox) -> None:
    headers = bearer(fresh_sandbox)
    first = requests.get(rest_url(fresh_sandbox), headers=headers, timeout=10).json()
    assert first["total"] == fresh_sandbox.config.customers
    assert len(first["data"]) == 20  # default limit
    seen: list[str] = []
    offset = 0
    while True:
        page = requests.get(
            rest_url(fresh_sandbox), params={"limit": 50, "offset": offset}, headers=headers, timeout=10
        ).json()
        seen += [c["id"] for c in page["data"]]
        offset += 50
        if offset >= page["total"]:
            break
    assert len(seen) == len(set(seen)) == fresh_sandbox.config.customers
    view = first["data"][0]
    assert {"id", "descriptor", "href", "name", "category", "paymentTerms", "groups"} <= view.keys()
    assert set(view["category"]) == {"id", "descriptor", "href"}
    assert not {"address", "email", "status", "lastUpdated"} & view.keys()


def test_rest_limit_above_100_is_a_validation_error(fresh_sandbox: RunningSandbox) -> None:
    response = requests.get(
        rest_url(fresh_sandbox), params={"limit": 101}, headers=bearer(fresh_sandbox), timeout=10
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] and body["errors"][0]["error"]


def test_rest_name_filter_and_single_customer(fresh_sandbox: RunningSandbox) -> None:
    headers = bearer(fresh_sandbox)
    some = requests.get(rest_url(fresh_sandbox), headers=headers, timeout=10).json()["data"][3]
    needle = some["name"].split()[0].upper()
    found = requests.get(rest_url(fresh_sandbox), params={"name": needle}, headers=headers, timeout=10).json()
    assert some["id"] in [c["id"] for c in found["data"]]
    assert all(needle.casefold() in c["name"].casefold() for c in found["data"])
    one = requests.get(rest_url(fresh_sandbox, f"/{some['id']}"), headers=headers, timeout=10)
    assert one.json() == some
    by_ref = requests.get(rest_url(fresh_sandbox, "/Customer_ID=CUS-000004"), headers=headers, timeout=10)
    assert by_ref.status_code == 200 and by_ref.json()["id"] == some["id"]
    missing = requests.get(rest_url(fresh_sandbox, "/" + "0" * 32), headers=headers, timeout=10)
    assert missing.status_code == 404 and "error" in missing.json()


def test_rest_rejects_missing_and_expired_bearer(fresh_sandbox: RunningSandbox) -> None:
    expected = {"error": "invalid_token", "error_description": "The access token is invalid or has expired"}
    response = requests.get(rest_url(fresh_sandbox), timeout=10)
    assert (response.status_code, response.json()) == (401, expected)
    headers = bearer(fresh_sandbox)
    url = fresh_sandbox.workday_url
    requests.post(f"{url}/_sandbox/oauth", json={"expire_access_tokens": True}, timeout=10).raise_for_status()
    response = requests.get(rest_url(fresh_sandbox), headers=headers, timeout=10)
    assert (response.status_code, response.json()) == (401, expected)


# -- RaaS -----------------------------------------------------------------------------------------------
def _all_rows(sb: RunningSandbox, report: str, **prompts: str) -> list[dict[str, str]]:
    response = requests.get(
        raas_url(sb, report), params={"format": "json", **prompts}, auth=isu(sb), timeout=10
    )
    response.raise_for_status()
    rows: list[dict[str, str]] = response.json().get("Report_Entry", [])
    return rows


def test_raas_prompts_filter_on_last_update(fresh_sandbox: RunningSandbox) -> None:
    everything = _all_rows(fresh_sandbox, CUSTOMERS_REPORT)
    assert len(everything) == fresh_sandbox.config.customers
    stamps = sorted(datetime.fromisoformat(r["Last_Updated"]) for r in everything)
    start, end = stamps[10], stamps[50]
    window = _all_rows(
        fresh_sandbox, CUSTOMERS_REPORT, Updated_From=start.isoformat(), Updated_To=end.isoformat()
    )
    assert len(window) == 40
    assert all(start <= datetime.fromisoformat(r["Last_Updated"]) < end for r in window)
    row = window[0]
    assert {"Customer_ID", "Customer_Name", "Payment_Terms_ID", "Currency", "Customer_Status"} <= row.keys()
    assert all(isinstance(v, str) and v for v in row.values())  # RaaS: strings, empty fields left out


def test_raas_sees_mutations_and_zero_rows_is_an_empty_object(fresh_sandbox: RunningSandbox) -> None:
    url = fresh_sandbox.workday_url
    result = requests.post(f"{url}/_sandbox/workday/mutate", json={"update_suppliers": 3}, timeout=10).json()
    rows = _all_rows(fresh_sandbox, SUPPLIERS_REPORT, Updated_From=result["at"])
    assert sorted(r["Supplier_ID"] for r in rows) == sorted(result["updated_suppliers"])
    response = requests.get(
        raas_url(fresh_sandbox, SUPPLIERS_REPORT),
        params={"format": "json", "Updated_From": "2030-01-01T00:00:00Z"},
        auth=isu(fresh_sandbox),
        timeout=10,
    )
    assert response.status_code == 200 and response.json() == {}


def test_raas_auth_formats_and_unknown_report(fresh_sandbox: RunningSandbox) -> None:
    sb = fresh_sandbox
    url = raas_url(sb, CUSTOMERS_REPORT)
    assert (
        requests.get(url, params={"format": "json"}, auth=("ISU_ML_Connector", "bad"), timeout=10).status_code
        == 401
    )
    tenant_user = (
        f"{sb.config.workday.isu_username}@{sb.config.workday.tenant}",
        sb.config.workday.isu_password,
    )
    assert requests.get(url, params={"format": "json"}, auth=tenant_user, timeout=10).status_code == 200
    assert requests.get(url, params={"format": "json"}, headers=bearer(sb), timeout=10).status_code == 200
    assert requests.get(raas_url(sb, "Nope"), auth=isu(sb), timeout=10).status_code == 404
    bad_prompt = requests.get(
        url, params={"format": "json", "Updated_From": "yesterday"}, auth=isu(sb), timeout=10
    )
    assert bad_prompt.status_code == 400
    text = requests.get(url, params={"format": "csv"}, auth=isu(sb), timeout=10).text
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == sb.config.customers and table[0]["Customer_ID"].startswith("CUS-")
    xml = etree.fromstring(requests.get(url, auth=isu(sb), timeout=10).content)
    assert etree.QName(xml).localname == "Report_Data" and len(xml) == sb.config.customers
    xsd = etree.XMLSchema(etree.fromstring(requests.get(url + "?xsds", auth=isu(sb), timeout=10).content))
    xsd.assertValid(xml)


# -- control routes, faults, throttling -----------------------------------------------------------------
def test_mutate_and_summary(fresh_sandbox: RunningSandbox) -> None:
    url = fresh_sandbox.workday_url
    before = requests.get(f"{url}/_sandbox/workday/summary", timeout=10).json()
    spec = {"create_customers": 2, "deactivate_customers": 1, "create_suppliers": 1, "update_contacts": 2}
    result = requests.post(f"{url}/_sandbox/workday/mutate", json=spec, timeout=10).json()
    assert len(result["created_customers"]) == 2 and len(result["updated_contacts"]) == 2
    after = requests.get(f"{url}/_sandbox/workday/summary", timeout=10).json()
    assert after["customers"]["total"] == before["customers"]["total"] + 2
    assert after["suppliers"]["total"] == before["suppliers"]["total"] + 1
    assert after["customers"]["inactive"] - before["customers"]["inactive"] in (1, 2, 3)
    bad = requests.post(f"{url}/_sandbox/workday/mutate", json={"create_customers": -1}, timeout=10)
    assert bad.status_code == 400
    requests.post(f"{url}/_sandbox/reset", timeout=10).raise_for_status()
    assert requests.get(f"{url}/_sandbox/workday/summary", timeout=10).json() == before


def test_injected_faults_take_each_api_familys_shape(fresh_sandbox: RunningSandbox) -> None:
    url = fresh_sandbox.workday_url
    faults = [
        {"route": "GET /ccx/api/customerAccounts/v1/{tenant}/customers", "status": 503},
        {"route": "POST /ccx/service/{tenant}/Revenue_Management/{version}", "status": 503},
        {"route": "GET /ccx/service/customreport2/{tenant}/{owner}/{report}", "kind": "expired_token"},
    ]
    requests.post(f"{url}/_sandbox/faults", json=faults, timeout=10).raise_for_status()
    rest = requests.get(rest_url(fresh_sandbox), headers=bearer(fresh_sandbox), timeout=10)
    assert rest.status_code == 503 and "error" in rest.json()
    soap = requests.post(f"{url}/ccx/service/acme/Revenue_Management/v45.2", data=b"<x/>", timeout=10)
    assert soap.status_code == 503 and soap.headers["content-type"].startswith("text/html")
    raas = requests.get(raas_url(fresh_sandbox, CUSTOMERS_REPORT), auth=isu(fresh_sandbox), timeout=10)
    assert raas.status_code == 401 and raas.json()["error"] == "invalid_token"


def test_rest_and_raas_throttle_with_429(make_sandbox: Callable[..., RunningSandbox]) -> None:
    sb = make_sandbox(workday_max_rps=5)
    headers = bearer(sb)
    codes = [requests.get(rest_url(sb), headers=headers, timeout=10).status_code for _ in range(8)]
    assert codes[:5] == [200] * 5 and 429 in codes[5:]
    throttled = requests.get(raas_url(sb, CUSTOMERS_REPORT), auth=isu(sb), timeout=10)
    assert throttled.status_code == 429 and "error" in throttled.json()
    assert "retry-after" not in throttled.headers


def test_mutation_can_corrupt_contact_emails(fresh_sandbox: RunningSandbox) -> None:
    url = f"{fresh_sandbox.workday_url}/_sandbox/workday/mutate"
    changed = requests.post(url, json={"corrupt_contact_emails": 2}, timeout=30).json()["corrupted_contacts"]
    assert len(changed) == 2
    wd = fresh_sandbox.config.workday
    body = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:wd="urn:com.workday/bsvc">'
        '<soapenv:Header><wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">'
        f"<wsse:UsernameToken><wsse:Username>{wd.isu_username}@{wd.tenant}</wsse:Username>"
        f"<wsse:Password>{wd.isu_password}</wsse:Password></wsse:UsernameToken></wsse:Security></soapenv:Header>"
        "<soapenv:Body><wd:Get_Business_Entity_Contacts_Request><wd:Response_Filter><wd:Count>999</wd:Count>"
        "</wd:Response_Filter></wd:Get_Business_Entity_Contacts_Request></soapenv:Body></soapenv:Envelope>"
    )
    response = requests.post(
        f"{fresh_sandbox.workday_url}/ccx/service/{wd.tenant}/Revenue_Management/{wd.api_version}",
        data=body.encode(),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.text.count("@@example") == 2
