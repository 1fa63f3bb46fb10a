"""WorkdayHook against the sandbox over real HTTP: SOAP paging and snapshots, suppliers window, contacts,
REST and RaaS modes, OAuth and ISU."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from support.sandbox import workday_server
from workday_support import (
    OWNER,
    REST_GET,
    REVENUE_POST,
    TOKEN_POST,
    flat,
    isu_json,
    oauth_uri,
)

from ml_connector.hooks.workday import WorkdayHook
from ml_connector.models.workday import WorkdayCustomer
from ml_connector.sandbox.runtime import RunningSandbox


# -- SOAP customers ----------------------------------------------------------------------------------------
def test_soap_customers_full_scan_pages_through_every_customer_with_typed_fields(
    fresh_sandbox: RunningSandbox, workday_connect: Callable[[str], WorkdayHook]
) -> None:
    hook = workday_connect(oauth_uri(fresh_sandbox, page_size=25))
    pages = list(hook.iter_customers())
    total = workday_server(fresh_sandbox).summary()["customers"]["total"]
    assert [len(p) for p in pages] == [25] * (total // 25) + ([total % 25] if total % 25 else [])
    customers: list[WorkdayCustomer] = flat(iter(pages))
    assert len({c.workday_id for c in customers}) == total
    assert workday_server(fresh_sandbox).by_route()[REVENUE_POST] == math.ceil(total / 25)

    assert {c.status for c in customers} <= {"ACTIVE", "INACTIVE"}
    assert (
        sum(c.status == "INACTIVE" for c in customers)
        == workday_server(fresh_sandbox).summary()["customers"]["inactive"]
    )
    assert len({c.as_of for c in customers}) == 1 and all(c.source == "soap" for c in customers)
    for c in customers:
        assert c.workday_id.startswith("CUS-") and c.wid and c.reference_id and c.name
        assert c.category and c.category.id and c.category.descriptor
        assert c.payment_terms and c.payment_terms.id and c.currency
        assert c.addresses and (c.primary_address is not None)
        assert not c.emails or (c.primary_email is not None and c.primary_email.primary)
        assert set(c.worktags) == {"INDUSTRY", "SEGMENT", "REGION"}
    assert sum(bool(c.phones) for c in customers) > total // 2
    assert sum(bool(c.emails) for c in customers) > total // 2
    assert sum(bool(c.tax_id) for c in customers) > total // 2
    first = customers[0].primary_address
    assert first is not None and first.country_code and first.city and first.lines and first.region_code
    assert any(c.supplier_id for c in customers)  # cross-links to the same company as a supplier


def test_pinned_as_of_keeps_the_result_set_while_customers_are_created(
    fresh_sandbox: RunningSandbox, workday_connect: Callable[[str], WorkdayHook]
) -> None:
    hook = workday_connect(oauth_uri(fresh_sandbox, page_size=25))
    before = workday_server(fresh_sandbox).summary()["customers"]["total"]
    pages = hook.iter_customers()
    seen = list(next(pages))
    created = workday_server(fresh_sandbox).mutate(create_customers=3)["created_customers"]
    seen += flat(pages)
    assert len(seen) == before
    assert not {c.workday_id for c in seen} & set(created)
    again = flat(hook.iter_customers())
    assert len(again) == before + 3 and set(created) <= {c.workday_id for c in again}


# -- suppliers and contacts ------------------------------------------------------------------------------
def test_suppliers_window_returns_only_suppliers_updated_in_it(
    fresh_sandbox: RunningSandbox, workday_connect: Callable[[str], WorkdayHook]
) -> None:
    hook = workday_connect(oauth_uri(fresh_sandbox, page_size=10))
    everyone = flat(hook.iter_suppliers())
    assert len(everyone) == workday_server(fresh_sandbox).summary()["suppliers"]["total"]
    start = datetime.now(UTC) - timedelta(seconds=1)
    changed = workday_server(fresh_sandbox).mutate(update_suppliers=3)["updated_suppliers"]
    end = datetime.now(UTC) + timedelta(seconds=5)
    window = flat(hook.iter_suppliers(start, end))
    assert sorted(s.workday_id for s in window) == sorted(changed)
    assert flat(hook.iter_suppliers(end, end + timedelta(hours=1))) == []
    supplier = window[0]
    assert supplier.category and supplier.payment_terms and supplier.status in ("ACTIVE", "INACTIVE")
    assert supplier.addresses and supplier.emails and supplier.approval_status == "APPROVED"


def test_contacts_belong_to_a_customer_or_a_supplier(
    fresh_sandbox: RunningSandbox, workday_connect: Callable[[str], WorkdayHook]
) -> None:
    hook = workday_connect(oauth_uri(fresh_sandbox, page_size=100))
    contacts = flat(hook.iter_contacts())
    assert len(contacts) == workday_server(fresh_sandbox).summary()["contacts"]["total"]
    customers = {c.workday_id for c in flat(hook.iter_customers())}
    suppliers = {s.workday_id for s in flat(hook.iter_suppliers())}
    for contact in contacts:
        assert (contact.customer_id in customers) != (contact.supplier_id in suppliers)
        assert contact.contact_id and contact.first_name and contact.last_name and contact.name
    assert sum(bool(c.emails) for c in contacts) > len(contacts) // 2
    assert any(c.supplier_id for c in contacts) and any(c.customer_id for c in contacts)


# -- other sources and auth kinds ------------------------------------------------------------------------
def test_rest_customers_page_by_offset_up_to_100(
    fresh_sandbox: RunningSandbox, workday_connect: Callable[[str], WorkdayHook]
) -> None:
    hook = workday_connect(oauth_uri(fresh_sandbox, customers_source="rest"))
    pages = list(hook.iter_customers(updated_from=datetime.now(UTC)))  # no date filter: full scan
    total = workday_server(fresh_sandbox).summary()["customers"]["total"]
    assert [len(p) for p in pages] == [100, total - 100]
    customers = flat(iter(pages))
    assert all(c.source == "rest" and c.workday_id == c.wid for c in customers)
    assert all(c.category and c.category.descriptor and c.payment_terms for c in customers)
    assert workday_server(fresh_sandbox).by_route()[REST_GET] == 2


def test_raas_customers_and_suppliers_with_isu_basic_auth_and_date_prompts(
    fresh_sandbox: RunningSandbox, workday_connect: Callable[[str], WorkdayHook]
) -> None:
    hook = workday_connect(
        isu_json(
            fresh_sandbox,
            page_size=50,
            customers_source=f"raas:{OWNER}/ML_Connector_Customers",
            suppliers_source=f"raas:{OWNER}/ML_Connector_Suppliers",
        )
    )
    counts = workday_server(fresh_sandbox).summary()
    pages = list(hook.iter_customers())
    assert sum(map(len, pages)) == counts["customers"]["total"] and max(map(len, pages)) == 50
    customer = pages[0][0]
    assert customer.source == "raas" and customer.workday_id.startswith("CUS-")
    assert customer.status in ("ACTIVE", "INACTIVE") and customer.updated_at is not None
    assert (
        customer.category
        and customer.category.id
        and set(customer.worktags) == {"INDUSTRY", "SEGMENT", "REGION"}
    )
    assert customer.primary_address and customer.primary_address.country_code and customer.primary_email
    assert len(flat(hook.iter_suppliers())) == counts["suppliers"]["total"]

    start = datetime.now(UTC) - timedelta(seconds=1)
    changed = workday_server(fresh_sandbox).mutate(update_customers=2, update_suppliers=2)
    end = datetime.now(UTC) + timedelta(seconds=5)
    assert sorted(c.workday_id for c in flat(hook.iter_customers(start, end))) == sorted(
        changed["updated_customers"]
    )
    assert sorted(s.workday_id for s in flat(hook.iter_suppliers(start, end))) == sorted(
        changed["updated_suppliers"]
    )
    assert flat(hook.iter_customers(end, end + timedelta(hours=1))) == []
    assert TOKEN_POST not in workday_server(fresh_sandbox).by_route()


def test_raas_with_oauth_bearer(
    fresh_sandbox: RunningSandbox, workday_connect: Callable[[str], WorkdayHook]
) -> None:
    hook = workday_connect(oauth_uri(fresh_sandbox, customers_source=f"raas:{OWNER}/ML_Connector_Customers"))
    assert len(flat(hook.iter_customers())) == workday_server(fresh_sandbox).summary()["customers"]["total"]


def test_isu_soap_uses_ws_security_and_never_asks_for_a_token(
    fresh_sandbox: RunningSandbox, workday_connect: Callable[[str], WorkdayHook]
) -> None:
    hook = workday_connect(isu_json(fresh_sandbox, page_size=50))
    assert len(flat(hook.iter_customers())) == workday_server(fresh_sandbox).summary()["customers"]["total"]
    assert len(flat(hook.iter_suppliers())) == workday_server(fresh_sandbox).summary()["suppliers"]["total"]
    routes = workday_server(fresh_sandbox).by_route()
    assert TOKEN_POST not in routes and routes[REVENUE_POST] == math.ceil(
        workday_server(fresh_sandbox).summary()["customers"]["total"] / 50
    )


def test_wsdl_location_override_reads_a_local_wsdl_file(
    fresh_sandbox: RunningSandbox, workday_connect: Callable[[str], WorkdayHook], tmp_path: Any
) -> None:
    w = fresh_sandbox.config.workday
    url = f"{fresh_sandbox.workday_url}/ccx/service/{w.tenant}/Revenue_Management/{w.api_version}?wsdl"
    path = tmp_path / "Revenue_Management.wsdl"
    path.write_bytes(requests.get(url, timeout=30).content)
    hook = workday_connect(
        oauth_uri(fresh_sandbox, page_size=200, wsdl_location_revenue_management=str(path))
    )
    assert hook.config.wsdl_url("Revenue_Management") == str(path)
    assert len(flat(hook.iter_customers())) == workday_server(fresh_sandbox).summary()["customers"]["total"]
    assert (
        workday_server(fresh_sandbox).by_route()["GET /ccx/service/{tenant}/Revenue_Management/{version}"]
        == 1  # ours
    )


def test_test_connection_reports_both_sources(
    fresh_sandbox: RunningSandbox, workday_connect: Callable[[str], WorkdayHook]
) -> None:
    ok, message = workday_connect(oauth_uri(fresh_sandbox)).test_connection()
    counts = workday_server(fresh_sandbox).summary()
    assert ok, message
    assert (
        f"{counts['customers']['total']} records" in message
        and f"{counts['suppliers']['total']} records" in message
    )


def test_one_page_in_flight_per_tenant_across_hooks_and_threads(
    fresh_sandbox: RunningSandbox, workday_connect: Callable[[str], WorkdayHook]
) -> None:
    hooks = [workday_connect(oauth_uri(fresh_sandbox, page_size=20)) for _ in range(3)]
    lock = threading.Lock()
    in_flight, peak = [0], [0]

    for hook in hooks:
        client = hook._state().soap
        send = client.request

        def tracked(*args: Any, _send: Callable[..., Any] = send, **kwargs: Any) -> Any:
            with lock:
                in_flight[0] += 1
                peak[0] = max(peak[0], in_flight[0])
            try:
                time.sleep(0.01)
                return _send(*args, **kwargs)
            finally:
                with lock:
                    in_flight[0] -= 1

        client.request = tracked  # type: ignore[method-assign]

    with ThreadPoolExecutor(3) as pool:
        counts = list(pool.map(lambda h: len(flat(h.iter_customers())), hooks))
    assert counts == [workday_server(fresh_sandbox).summary()["customers"]["total"]] * 3
    assert peak[0] == 1
