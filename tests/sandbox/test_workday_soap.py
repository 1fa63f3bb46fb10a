"""Workday SOAP over real HTTP with zeep, the client the product uses, against the served ``?wsdl``.

Every SOAP response a test receives (zeep or raw) is checked against the sandbox schema at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import zeep
from lxml import etree
from support.sandbox import workday_server
from zeep.exceptions import Fault
from zeep.plugins import Plugin
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from ml_connector.sandbox.runtime import RunningSandbox
from ml_connector.sandbox.workday import wsdl

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WD = "urn:com.workday/bsvc"
REVENUE, RESOURCE = "Revenue_Management", "Resource_Management"


class Recorder(Plugin):
    """Keeps every SOAP envelope zeep receives, so the test can check it against the schema."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    def ingress(self, envelope: Any, http_headers: Any, operation: Any) -> tuple[Any, Any]:
        self.envelopes.append(envelope)
        return envelope, http_headers


def assert_schema_valid(envelope: Any) -> None:
    body = envelope.find(f"{{{SOAP_ENV}}}Body")
    assert body is not None
    (payload,) = list(body)
    if payload.tag == f"{{{SOAP_ENV}}}Fault":
        detail = payload.find("detail")
        payload = None if detail is None or not len(detail) else detail[0]
    if payload is not None:
        assert wsdl.validate_element(payload) == []


@pytest.fixture()
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    yield rec
    for envelope in rec.envelopes:
        assert_schema_valid(envelope)


@pytest.fixture()
def soap(recorder: Recorder) -> Callable[..., Any]:
    """``soap(sandbox, service, auth="wsse"|"bearer"|None, password=..., token=...)`` → a zeep service."""

    def make(
        sb: RunningSandbox,
        service: str,
        auth: str | None = "wsse",
        password: str | None = None,
        token: str | None = None,
    ) -> Any:
        w = sb.config.workday
        session = requests.Session()
        wsse = None
        if auth == "wsse":
            wsse = UsernameToken(f"{w.isu_username}@{w.tenant}", password or w.isu_password)
        elif auth == "bearer":
            session.headers["Authorization"] = f"Bearer {token or access_token(sb)}"
        client = zeep.Client(
            f"{sb.workday_url}/ccx/service/{w.tenant}/{service}/{w.api_version}?wsdl",
            wsse=wsse,
            transport=Transport(session=session),
            settings=zeep.Settings(strict=True, xml_huge_tree=True),
            plugins=[recorder],
        )
        return client

    return make


def access_token(sb: RunningSandbox) -> str:
    w = sb.config.workday
    response = requests.post(
        f"{sb.workday_url}/ccx/oauth2/{w.tenant}/token",
        data={"grant_type": "refresh_token", "refresh_token": w.refresh_token},
        auth=(w.client_id, w.client_secret),
        timeout=10,
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def one(value: Any) -> Any:
    """zeep gives a list where the schema allows several (``Response_Results`` on Get_Customers)."""
    return value[0] if isinstance(value, list) else value


def rows(response: Any, name: str) -> list[Any]:
    data = response.Response_Data
    if data is None:
        return []
    out: list[Any] = []
    for block in data if isinstance(data, list) else [data]:
        out += getattr(block, name) or []
    return out


def ref_id(reference: Any, id_type: str) -> str:
    return next(str(i._value_1) for i in reference.ID if i.type == id_type)


def fault_of(call: Callable[[], Any]) -> Fault:
    with pytest.raises(Fault) as info:
        call()
    return info.value


def raw_envelope(body: str, user: str | None = None, password: str | None = None) -> bytes:
    header = ""
    if user is not None:
        header = (
            '<soapenv:Header><wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/'
            'oasis-200401-wss-wssecurity-secext-1.0.xsd"><wsse:UsernameToken>'
            f"<wsse:Username>{user}</wsse:Username>"
            '<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-'
            f'profile-1.0#PasswordText">{password}</wsse:Password></wsse:UsernameToken></wsse:Security>'
            "</soapenv:Header>"
        )
    return (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:wd="{WD}">{header}'
        f"<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    ).encode()


def raw_post(
    sb: RunningSandbox, service: str, body: str, version: str | None = None, check: bool = True
) -> requests.Response:
    """POST a hand-written envelope with UsernameToken auth; faults and responses are schema-checked."""
    w = sb.config.workday
    response = requests.post(
        f"{sb.workday_url}/ccx/service/{w.tenant}/{service}/{version or w.api_version}",
        data=raw_envelope(body, f"{w.isu_username}@{w.tenant}", w.isu_password),
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
        timeout=30,
    )
    if check and response.content.startswith(b"<"):
        assert_schema_valid(etree.fromstring(response.content))
    return response


# -- authentication -------------------------------------------------------------------------------------
def test_get_customers_with_username_token(fresh_sandbox: RunningSandbox, soap: Callable[..., Any]) -> None:
    client = soap(fresh_sandbox, REVENUE)
    response = client.service.Get_Customers(Response_Filter={"Count": 50})
    results = one(response.Response_Results)
    assert (results.Total_Results, results.Total_Pages, results.Page_Results, results.Page) == (120, 3, 50, 1)
    customers = rows(response, "Customer")
    assert len(customers) == 50
    assert ref_id(customers[0].Customer_Reference, "Customer_ID") == "CUS-000001"


def test_bearer_auth_and_expired_bearer(fresh_sandbox: RunningSandbox, soap: Callable[..., Any]) -> None:
    client = soap(fresh_sandbox, RESOURCE, auth="bearer")
    assert one(client.service.Get_Suppliers().Response_Results).Total_Results == 60
    requests.post(
        f"{fresh_sandbox.workday_url}/_sandbox/oauth", json={"expire_access_tokens": True}, timeout=10
    )
    fault = fault_of(client.service.Get_Suppliers)
    assert fault.code == "SOAP-ENV:Client.authenticationError"


@pytest.mark.parametrize("auth", ["wrong-password", "none"])
def test_bad_credentials_are_authentication_faults(
    fresh_sandbox: RunningSandbox, soap: Callable[..., Any], auth: str
) -> None:
    client = soap(fresh_sandbox, REVENUE, auth="wsse" if auth != "none" else None, password="nope")
    fault = fault_of(client.service.Get_Customers)
    assert fault.code == "SOAP-ENV:Client.authenticationError"
    assert fault.message == "invalid username or password"


# -- paging ---------------------------------------------------------------------------------------------
def _customer_page(client: Any, page: int, as_of: datetime | None = None) -> tuple[Any, list[Any]]:
    flt: dict[str, Any] = {"Page": page, "Count": 25}
    if as_of is not None:
        flt["As_Of_Entry_DateTime"] = as_of
    response = client.service.Get_Customers(Response_Filter=flt)
    return response, rows(response, "Customer")


def _terms(customer: Any) -> str:
    data = one(customer.Customer_Data)
    return ref_id(data.Payment_Terms_Reference, "Payment_Terms_ID")


def test_pinned_as_of_keeps_pages_stable_while_data_changes(
    fresh_sandbox: RunningSandbox, soap: Callable[..., Any]
) -> None:
    client = soap(fresh_sandbox, REVENUE)
    first, customers = _customer_page(client, 1)
    as_of = one(first.Response_Filter).As_Of_Entry_DateTime
    assert isinstance(as_of, datetime)
    seen = {ref_id(c.Customer_Reference, "Customer_ID"): _terms(c) for c in customers}
    total_pages = one(first.Response_Results).Total_Pages
    changes = workday_server(fresh_sandbox).mutate(
        create_customers=5, update_customers=40, deactivate_customers=3
    )
    for page in range(2, int(total_pages) + 1):
        response, customers = _customer_page(client, page, as_of)
        assert one(response.Response_Results).Total_Results == 120
        assert one(response.Response_Filter).As_Of_Entry_DateTime == as_of
        for c in customers:
            seen[ref_id(c.Customer_Reference, "Customer_ID")] = _terms(c)
        if page == 2:
            workday_server(fresh_sandbox).mutate(create_customers=2, update_customers=10)
    assert sorted(seen) == [f"CUS-{n:06d}" for n in range(1, 121)]
    # An unpinned run sees the new and changed customers.
    fresh, _ = _customer_page(client, 1)
    assert one(fresh.Response_Results).Total_Results == 127
    latest: dict[str, str] = {}
    for page in range(1, int(one(fresh.Response_Results).Total_Pages) + 1):
        latest.update(
            {ref_id(c.Customer_Reference, "Customer_ID"): _terms(c) for c in _customer_page(client, page)[1]}
        )
    assert set(changes["created_customers"]) <= latest.keys()
    changed = [cid for cid in changes["updated_customers"] if latest[cid] != seen[cid]]
    assert len(changed) >= 35  # a second update may land back on the original terms


def test_page_past_the_end_is_empty_with_correct_totals(
    fresh_sandbox: RunningSandbox, soap: Callable[..., Any]
) -> None:
    client = soap(fresh_sandbox, REVENUE)
    response = client.service.Get_Customers(Response_Filter={"Page": 9, "Count": 50})
    results = one(response.Response_Results)
    assert (results.Total_Results, results.Total_Pages, results.Page_Results, results.Page) == (120, 3, 0, 9)
    assert rows(response, "Customer") == []


@pytest.mark.parametrize(
    ("flt", "text"), [({"Count": 1000}, "Count"), ({"Page": 0}, "Page Number cannot be zero")]
)
def test_out_of_range_paging_is_a_validation_fault(
    fresh_sandbox: RunningSandbox, soap: Callable[..., Any], flt: dict[str, int], text: str
) -> None:
    client = soap(fresh_sandbox, REVENUE)
    fault = fault_of(lambda: client.service.Get_Customers(Response_Filter=flt))
    assert fault.code == "SOAP-ENV:Client.validationError"
    assert text in fault.message
    xpath = fault.detail.find(f".//{{{WD}}}Xpath").text
    assert xpath.startswith("/wd:Get_Customers_Request[1]/wd:Response_Filter[1]/")


# -- references and criteria ----------------------------------------------------------------------------
def test_request_references_and_unknown_ids(fresh_sandbox: RunningSandbox, soap: Callable[..., Any]) -> None:
    client = soap(fresh_sandbox, REVENUE)
    refs = {
        "Customer_Reference": [
            {"ID": [{"type": "Customer_ID", "_value_1": cid}]} for cid in ("CUS-000007", "CUS-000003")
        ]
    }
    found = rows(client.service.Get_Customers(Request_References=refs), "Customer")
    assert [ref_id(c.Customer_Reference, "Customer_ID") for c in found] == ["CUS-000007", "CUS-000003"]
    bad = {"Customer_Reference": [{"ID": [{"type": "Customer_ID", "_value_1": "CUS-999999"}]}]}
    fault = fault_of(lambda: client.service.Get_Customers(Request_References=bad))
    assert fault.code == "SOAP-ENV:Client.validationError"
    assert "Invalid ID value.  'CUS-999999' is not a valid ID value for type = 'Customer_ID'" in fault.message


def test_supplier_update_window_returns_exactly_the_changed_suppliers(
    fresh_sandbox: RunningSandbox, soap: Callable[..., Any]
) -> None:
    client = soap(fresh_sandbox, RESOURCE)

    def window(start: datetime, end: datetime) -> list[str]:
        criteria = {"Updated_From_Date": start, "Updated_To_Date": end}
        response = client.service.Get_Suppliers(Request_Criteria=criteria, Response_Filter={"Count": 999})
        return sorted(ref_id(s.Supplier_Reference, "Supplier_ID") for s in rows(response, "Supplier"))

    # On the seeded history (one version per supplier) the SOAP window and the RaaS prompts agree.
    w = fresh_sandbox.config.workday
    start, end = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)
    report = requests.get(
        f"{fresh_sandbox.workday_url}/ccx/service/customreport2/{w.tenant}/{w.raas_owner}/ML_Connector_Suppliers",
        params={"format": "json", "Updated_From": start.isoformat(), "Updated_To": end.isoformat()},
        auth=(w.isu_username, w.isu_password),
        timeout=10,
    ).json()
    in_september = window(start, end)
    assert 5 < len(in_september) < 40
    assert in_september == sorted(r["Supplier_ID"] for r in report["Report_Entry"])

    changes = workday_server(fresh_sandbox).mutate(
        update_suppliers=4, create_suppliers=2, deactivate_suppliers=1
    )
    at = datetime.fromisoformat(changes["at"])
    expected = changes["updated_suppliers"] + changes["created_suppliers"] + changes["deactivated_suppliers"]
    assert window(at, at + timedelta(milliseconds=1)) == sorted(expected)
    assert window(at - timedelta(days=1), at) == []  # the seeded book is older than a day
    # Workday's window is a transaction-log test: an update in the window counts even if a later one exists.
    assert set(in_september) <= set(window(start, end))


def test_supplier_status_and_category_filters(
    fresh_sandbox: RunningSandbox, soap: Callable[..., Any]
) -> None:
    client = soap(fresh_sandbox, RESOURCE)
    status = {
        "Supplier_Status_Reference": [
            {"ID": [{"type": "Business_Entity_Status_Value_ID", "_value_1": "INACTIVE"}]}
        ]
    }
    response = client.service.Get_Suppliers(Request_Criteria=status, Response_Filter={"Count": 999})
    assert (
        one(response.Response_Results).Total_Results
        == workday_server(fresh_sandbox).summary()["suppliers"]["inactive"]
    )
    category = {
        "Supplier_Category_Reference": [{"ID": [{"type": "Supplier_Category_ID", "_value_1": "LOGISTICS"}]}]
    }
    suppliers = rows(
        client.service.Get_Suppliers(Request_Criteria=category, Response_Filter={"Count": 999}), "Supplier"
    )
    assert suppliers
    assert {
        ref_id(one(s.Supplier_Data).Supplier_Category_Reference, "Supplier_Category_ID") for s in suppliers
    } == {"LOGISTICS"}
    unknown = {
        "Supplier_Category_Reference": [{"ID": [{"type": "Supplier_Category_ID", "_value_1": "NOPE"}]}]
    }
    fault = fault_of(lambda: client.service.Get_Suppliers(Request_Criteria=unknown))
    assert fault.code == "SOAP-ENV:Client.validationError"


def test_business_entity_contacts_cover_customers_and_suppliers(
    fresh_sandbox: RunningSandbox, soap: Callable[..., Any]
) -> None:
    client = soap(fresh_sandbox, REVENUE)
    response = client.service.Get_Business_Entity_Contacts(Response_Filter={"Count": 999})
    contacts = rows(response, "Business_Entity_Contact")
    assert len(contacts) == workday_server(fresh_sandbox).summary()["contacts"]["total"]
    owners = set()
    for contact in contacts:
        data = one(contact.Business_Entity_Contact_Data)
        owners.add("customer" if data.Billable_Entity_Reference is not None else "supplier")
        assert (data.Billable_Entity_Reference is None) != (data.Supplier_Reference is None)
    assert owners == {"customer", "supplier"}


# -- service, version, operation, hardening ------------------------------------------------------------
def test_wrong_version_and_wrong_service_are_faults(fresh_sandbox: RunningSandbox) -> None:
    body = "<wd:Get_Customers_Request/>"
    for service, version in ((REVENUE, "v48.0"), (RESOURCE, None), ("Human_Resources", None)):
        response = raw_post(fresh_sandbox, service, body, version)
        assert response.status_code == 500
        assert response.headers["content-type"] == "text/xml; charset=utf-8"
        assert b"Client.validationError" in response.content
        assert b"The web service or version is invalid for the requested operation" in response.content
    assert raw_post(fresh_sandbox, REVENUE, body, "v31.0").status_code == 200


def test_schema_breaks_are_validation_faults_with_xpath(fresh_sandbox: RunningSandbox) -> None:
    response = raw_post(
        fresh_sandbox, REVENUE, "<wd:Get_Customers_Request><wd:Bogus/></wd:Get_Customers_Request>"
    )
    assert response.status_code == 500
    fault = etree.fromstring(response.content).find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault.findtext("faultcode") == "SOAP-ENV:Client.validationError"
    assert fault.find(f".//{{{WD}}}Validation_Error/{{{WD}}}Xpath") is not None


def test_entities_are_not_expanded(fresh_sandbox: RunningSandbox) -> None:
    w = fresh_sandbox.config.workday
    payload = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        + raw_envelope("<wd:Get_Customers_Request><wd:Request_Criteria><wd:Customer_Reference_ID>&xxe;"
                       "</wd:Customer_Reference_ID></wd:Request_Criteria></wd:Get_Customers_Request>",
                       f"{w.isu_username}@{w.tenant}", w.isu_password)
    )  # fmt: skip
    response = requests.post(f"{fresh_sandbox.workday_url}/ccx/service/{w.tenant}/{REVENUE}/{w.api_version}",
                             data=payload, timeout=10)  # fmt: skip
    assert b"root:" not in response.content


def test_wsdl_points_at_the_endpoint(fresh_sandbox: RunningSandbox) -> None:
    w = fresh_sandbox.config.workday
    url = f"{fresh_sandbox.workday_url}/ccx/service/{w.tenant}/{RESOURCE}/{w.api_version}"
    doc = etree.fromstring(requests.get(url + "?wsdl", timeout=10).content)
    address = doc.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address is not None and address.get("location") == url


def test_descriptors_only_when_the_common_header_asks(
    fresh_sandbox: RunningSandbox, soap: Callable[..., Any]
) -> None:
    client = soap(fresh_sandbox, REVENUE)
    plain = rows(client.service.Get_Customers(Response_Filter={"Count": 1}), "Customer")[0]
    assert plain.Customer_Reference.Descriptor is None
    header = client.get_element(f"{{{WD}}}Workday_Common_Header")(
        Include_Reference_Descriptors_In_Response=True
    )
    described = rows(
        client.service.Get_Customers(Response_Filter={"Count": 1}, _soapheaders=[header]), "Customer"
    )[0]
    assert described.Customer_Reference.Descriptor == one(described.Customer_Data).Customer_Name


# -- throttling and speed -------------------------------------------------------------------------------
def test_soap_throttles_with_http_500(make_sandbox: Callable[..., RunningSandbox]) -> None:
    sb = make_sandbox(workday_max_rps=5)
    responses = [raw_post(sb, REVENUE, "<wd:Get_Customers_Request/>") for _ in range(8)]
    assert [r.status_code for r in responses[:5]] == [200] * 5
    throttled = [r for r in responses[5:] if r.status_code == 500]
    assert throttled and b"Server.processingError" in throttled[0].content


def test_full_999_record_pages_are_served(make_sandbox: Callable[..., RunningSandbox]) -> None:
    """The size that matters for speed (how fast: ``make bench``)."""
    sb = make_sandbox(customers=5000, suppliers=50)
    body = "<wd:Get_Customers_Request><wd:Response_Filter><wd:Page>{}</wd:Page><wd:Count>999</wd:Count></wd:Response_Filter></wd:Get_Customers_Request>"
    raw_post(sb, REVENUE, body.format(1))  # schema check of the request
    for page in (2, 3, 4):
        response = raw_post(sb, REVENUE, body.format(page), check=False)
        assert response.status_code == 200
        customers = etree.fromstring(response.content).iterfind(f".//{{{WD}}}Customer")
        assert sum(1 for _ in customers) == 999
