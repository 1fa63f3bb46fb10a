"""WorkdayHook failure paths over real HTTP: what is retried (once per failure), what is final after one
request, the expired-bearer refresh, hostile XML, and that no secret reaches logs or messages."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from support.sandbox import workday_server
from workday_support import (
    REST_GET,
    REVENUE_POST,
    TOKEN_POST,
    flat,
    isu_json,
    oauth_uri,
    real_page,
)

from ml_connector.hooks.workday import RESOURCE, WorkdayHook
from ml_connector.hooks.workday_errors import WorkdayValidationError
from ml_connector.hooks.workday_xml import UnsafeXml
from ml_connector.http.errors import ApiError, CredentialRejected, RetriesExhausted
from ml_connector.sandbox.runtime import RunningSandbox

PROCESSING_FAULT = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body>'
    '<SOAP-ENV:Fault xmlns:wd="urn:com.workday/bsvc"><faultcode>SOAP-ENV:Server.processingError</faultcode>'
    "<faultstring>Processing error occurred. The tenant is processing too many requests.</faultstring>"
    "<detail><wd:Processing_Fault><wd:Detail_Message>Try again later</wd:Detail_Message></wd:Processing_Fault>"
    "</detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>'
    '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>'
    '<wd:Get_Customers_Response xmlns:wd="urn:com.workday/bsvc"><wd:Response_Results>'
    "<wd:Total_Results>1</wd:Total_Results><wd:Total_Pages>1</wd:Total_Pages></wd:Response_Results>"
    "<wd:Response_Data><wd:Customer><wd:Customer_Data><wd:Customer_ID>CUS-X</wd:Customer_ID>"
    "<wd:Customer_Name>&xxe;</wd:Customer_Name></wd:Customer_Data></wd:Customer></wd:Response_Data>"
    "</wd:Get_Customers_Response></env:Body></env:Envelope>"
)
LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    + "]>"
)
HOSTILE = {
    "xxe": XXE,
    # past the first 4 KiB, behind a comment or whitespace: still in the prolog, still refused
    "laughs-after-comment": '<?xml version="1.0"?><!--' + "x" * 8000 + "-->" + LAUGHS + XXE.split("]>", 1)[1],
    "laughs-after-whitespace": "\n" * 8000 + LAUGHS + XXE.split("]>", 1)[1],
}
Connect = Callable[[str], WorkdayHook]


def pages_of(sandbox: RunningSandbox, kind: str, size: int) -> int:
    return math.ceil(int(workday_server(sandbox).summary()[kind]["total"]) / size)


# -- retried ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 503, "count": 2},
        {"kind": "status", "status": 504, "count": 1},
        {"kind": "status", "status": 500, "count": 2},  # the load balancer's HTML page, no SOAP fault
        {"kind": "status", "status": 500, "count": 2, "content_type": "text/xml", "body": PROCESSING_FAULT},
        {"kind": "drop", "count": 2},
        {"kind": "malformed", "count": 1},  # a 200 cut in half: unreadable, so read again
    ],
    ids=["503", "504", "500-html", "processing-fault", "drop", "truncated"],
)
def test_soap_transient_failures_are_retried_then_succeed(
    fresh_sandbox: RunningSandbox, workday_connect: Connect, fault: dict[str, Any]
) -> None:
    hook = workday_connect(oauth_uri(fresh_sandbox, page_size=50))
    workday_server(fresh_sandbox).arm(route=REVENUE_POST, **fault)
    customers = flat(hook.iter_customers())
    assert len(customers) == workday_server(fresh_sandbox).summary()["customers"]["total"]
    assert (
        workday_server(fresh_sandbox).by_route()[REVENUE_POST]
        == pages_of(fresh_sandbox, "customers", 50) + fault["count"]
    )


def test_rest_429_is_retried(fresh_sandbox: RunningSandbox, workday_connect: Connect) -> None:
    hook = workday_connect(oauth_uri(fresh_sandbox, customers_source="rest"))
    workday_server(fresh_sandbox).arm(route=REST_GET, kind="status", status=429, count=2)
    assert len(flat(hook.iter_customers())) == workday_server(fresh_sandbox).summary()["customers"]["total"]
    assert workday_server(fresh_sandbox).by_route()[REST_GET] == 2 + 2


def test_retries_are_bounded(fresh_sandbox: RunningSandbox, workday_connect: Connect) -> None:
    hook = workday_connect(oauth_uri(fresh_sandbox))
    workday_server(fresh_sandbox).arm(route=REVENUE_POST, kind="status", status=503, count=10)
    with pytest.raises(RetriesExhausted, match="Get_Customers page 1"):
        flat(hook.iter_customers())
    assert workday_server(fresh_sandbox).by_route()[REVENUE_POST] == 4  # FAST.max_attempts


def test_expired_bearer_on_soap_refreshes_once_and_sends_once_more(
    fresh_sandbox: RunningSandbox, workday_connect: Connect
) -> None:
    hook = workday_connect(oauth_uri(fresh_sandbox, page_size=50))
    pages = pages_of(fresh_sandbox, "customers", 50)
    assert flat(hook.iter_customers())
    workday_server(fresh_sandbox).control("POST", "/oauth", {"expire_access_tokens": True})
    assert len(flat(hook.iter_customers())) == workday_server(fresh_sandbox).summary()["customers"]["total"]
    routes = workday_server(fresh_sandbox).by_route()
    assert routes[TOKEN_POST] == 2
    assert routes[REVENUE_POST] == 2 * pages + 1


# -- final after one request ------------------------------------------------------------------------------
def test_validation_fault_carries_the_api_message_and_xpath_and_is_not_retried(
    fresh_sandbox: RunningSandbox, workday_connect: Connect
) -> None:
    hook = workday_connect(oauth_uri(fresh_sandbox))
    with pytest.raises(WorkdayValidationError) as caught:
        next(hook.iter_soap_pages("Revenue_Management", "Get_Customers", "Customer", count=1000))
    error = caught.value
    assert "Validation error occurred" in str(error) and "'1000'" in error.api_message
    assert error.issues[0].xpath == "/wd:Get_Customers_Request[1]/wd:Response_Filter[1]/wd:Count[1]"
    assert error.issues[0].xpath in str(error)
    assert workday_server(fresh_sandbox).by_route()[REVENUE_POST] == 1


def test_invalid_reference_is_a_validation_error_after_one_request(
    fresh_sandbox: RunningSandbox, workday_connect: Connect
) -> None:
    hook = workday_connect(oauth_uri(fresh_sandbox))
    criteria = {
        "Supplier_Category_Reference": [{"ID": [{"type": "Supplier_Category_ID", "_value_1": "NOPE"}]}]
    }
    with pytest.raises(WorkdayValidationError, match=r"Invalid ID value.*'NOPE'") as caught:
        next(hook.iter_soap_pages(RESOURCE, "Get_Suppliers", "Supplier", request_criteria=criteria))
    assert "Supplier_Category_Reference" in (caught.value.issues[0].xpath or "")
    assert (
        workday_server(fresh_sandbox).by_route()["POST /ccx/service/{tenant}/Resource_Management/{version}"]
        == 1
    )


def test_bad_isu_password_is_credential_rejected_after_one_request(
    fresh_sandbox: RunningSandbox, workday_connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    hook = workday_connect(isu_json(fresh_sandbox, password="not-the-isu-password"))
    with caplog.at_level(logging.ERROR), pytest.raises(CredentialRejected) as caught:
        flat(hook.iter_customers())
    alerts = [r.getMessage() for r in caplog.records if r.getMessage().startswith("credential alert: ")]
    assert len(alerts) == 1 and "workday_default" in alerts[0]
    message = str(caught.value)
    assert "workday_default" in message and "Integration System User" in message
    assert "not-the-isu-password" not in message
    assert workday_server(fresh_sandbox).by_route()[REVENUE_POST] == 1
    ok, text = hook.test_connection()
    assert not ok and "CredentialRejected" in text and "not-the-isu-password" not in text


def test_revoked_refresh_token_is_credential_rejected(
    fresh_sandbox: RunningSandbox, workday_connect: Connect
) -> None:
    hook = workday_connect(oauth_uri(fresh_sandbox))
    workday_server(fresh_sandbox).control("POST", "/oauth", {"revoke_refresh_tokens": True})
    with pytest.raises(CredentialRejected):
        flat(hook.iter_customers())
    assert REVENUE_POST not in workday_server(fresh_sandbox).by_route()


@pytest.mark.parametrize("body", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_xml_is_refused_at_once_without_reading_the_file(
    fresh_sandbox: RunningSandbox, workday_connect: Connect, body: str
) -> None:
    hook = workday_connect(oauth_uri(fresh_sandbox))
    workday_server(fresh_sandbox).arm(
        route=REVENUE_POST, kind="status", status=200, content_type="text/xml", body=body
    )
    with pytest.raises(UnsafeXml) as caught:
        flat(hook.iter_customers())
    hostname = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").is_file() else None
    if hostname:
        assert hostname not in str(caught.value) and hostname not in repr(caught.value.__dict__)
    assert "DOCTYPE" in str(caught.value)
    assert workday_server(fresh_sandbox).by_route()[REVENUE_POST] == 1


def test_rest_mode_with_an_isu_is_refused_before_any_request(
    fresh_sandbox: RunningSandbox, workday_connect: Connect
) -> None:
    hook = workday_connect(isu_json(fresh_sandbox, customers_source="rest"))
    with pytest.raises(ValueError, match=r"workday_default.*REST API accepts only OAuth"):
        flat(hook.iter_customers())


# -- secrets -------------------------------------------------------------------------------------------------
def test_no_secret_in_logs_messages_or_reprs(
    fresh_sandbox: RunningSandbox, workday_connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    w = fresh_sandbox.config.workday
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    oauth = workday_connect(oauth_uri(fresh_sandbox, page_size=60))
    flat(oauth.iter_customers())
    workday_server(fresh_sandbox).control("POST", "/oauth", {"expire_access_tokens": True})
    flat(oauth.iter_contacts())
    seen += [repr(oauth), repr(oauth.config), str(oauth.config.model_dump())]
    isu = workday_connect(isu_json(fresh_sandbox, page_size=60))
    flat(isu.iter_suppliers())
    seen += [repr(isu.config), str(isu.test_connection())]
    bad = workday_connect(isu_json(fresh_sandbox, password="wrong-isu-password-123"))
    with pytest.raises(ApiError) as rejected:
        flat(bad.iter_customers())
    seen.append(str(rejected.value))
    issued = requests.post(
        f"{fresh_sandbox.workday_url}/ccx/oauth2/{w.tenant}/token",
        data={"grant_type": "refresh_token", "refresh_token": w.refresh_token},
        auth=(w.client_id, w.client_secret),
        timeout=10,
    ).json()["access_token"]
    text = caplog.text + "\n".join(seen)
    for secret in (w.client_secret, w.refresh_token, w.isu_password, "wrong-isu-password-123"):
        assert secret not in text
    assert issued[:12] not in text and "Bearer " not in text


def test_an_unreadable_record_is_set_aside_and_the_rest_of_the_page_goes_on(
    fresh_sandbox: RunningSandbox, workday_connect: Connect
) -> None:
    hook = workday_connect(oauth_uri(fresh_sandbox, page_size=999))
    good = flat(hook.iter_customers())
    # the same page again, with one customer's Credit_Limit no longer a number
    page = real_page(fresh_sandbox, 1, 999).decode()
    start = page.index("<wd:Credit_Limit>") + len("<wd:Credit_Limit>")
    broken = page[:start] + "lots" + page[page.index("</wd:Credit_Limit>", start) :]
    workday_server(fresh_sandbox).arm(
        route=REVENUE_POST, kind="status", status=200, content_type="text/xml", body=broken
    )
    again = workday_connect(oauth_uri(fresh_sandbox, page_size=999))
    read = flat(again.iter_customers())
    assert len(read) == len(good) - 1
    ((kind, key, reason),) = again.skipped_records
    assert kind == "organization" and key.startswith("CUS-") and "lots" not in key
    assert key not in {c.workday_id for c in read}
    assert "could not convert" in reason or "ValueError" in reason


@pytest.mark.parametrize("page_size", [999, 50, 7])
def test_a_record_that_makes_its_page_unparseable_is_set_aside_alone(
    fresh_sandbox: RunningSandbox, workday_connect: Connect, page_size: int
) -> None:
    """A control character in a name (``&#x1;`` on the wire) breaks the page's XML, not the sync."""
    workday = workday_server(fresh_sandbox)
    everyone = {c.workday_id for c in flat(workday_connect(oauth_uri(fresh_sandbox)).iter_customers())}
    bad = set(workday.mutate(unparseable_customers=2, seed=5)["unparseable_customers"])
    before = workday.by_route()[REVENUE_POST]
    hook = workday_connect(oauth_uri(fresh_sandbox, page_size=page_size))
    read = flat(hook.iter_customers())
    assert {c.workday_id for c in read} == everyone - bad  # every other record, each once
    assert len(read) == len(everyone - bad)
    assert {key for _, key, _ in hook.skipped_records} == bad
    assert all("not well-formed" in reason for _, _, reason in hook.skipped_records)
    # the pages around the bad records are read in quarters, not record by record
    requests_made = workday.by_route()[REVENUE_POST] - before
    assert requests_made < pages_of(fresh_sandbox, "customers", page_size) + 2 * 2 * 4 * 6
