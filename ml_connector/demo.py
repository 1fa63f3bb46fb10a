"""``make demo``: start the sandbox and walk through both APIs the way the connector will use them.

The tour is deliberately plain HTTP (requests and zeep), so a newcomer sees the real wire calls:
a Workday OAuth refresh, one pinned SOAP page of customers, then a Pipedrive custom field, an
organization created with it and read back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import requests
import zeep
from zeep.transports import Transport

from ml_connector.sandbox.config import SandboxConfig
from ml_connector.sandbox.runtime import RunningSandbox, run_sandbox


def _step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def _single(value: Any) -> Any:
    return value[0] if isinstance(value, list) else value


def _workday_access_token(sandbox: RunningSandbox) -> str:
    wd = sandbox.config.workday
    response = requests.post(
        f"{sandbox.workday_url}/ccx/oauth2/{wd.tenant}/token",
        data={"grant_type": "refresh_token", "refresh_token": wd.refresh_token},
        auth=(wd.client_id, wd.client_secret),
        timeout=30,
    )
    response.raise_for_status()
    token = response.json()
    print(f"access token issued: type={token['token_type']} expires_in={token['expires_in']}s")
    return str(token["access_token"])


def _workday_customer_page(sandbox: RunningSandbox, access_token: str) -> Any:
    wd = sandbox.config.workday
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {access_token}"
    url = f"{sandbox.workday_url}/ccx/service/{wd.tenant}/Revenue_Management/{wd.api_version}"
    client = zeep.Client(  # type: ignore[no-untyped-call]
        f"{url}?wsdl",
        transport=Transport(session=session, timeout=60),  # type: ignore[no-untyped-call]
        settings=zeep.Settings(strict=True, xml_huge_tree=True),
    )
    as_of = datetime.now(UTC).replace(microsecond=0)
    reply = client.service.Get_Customers(
        Response_Filter={"As_Of_Entry_DateTime": as_of, "Page": 1, "Count": 25},
        Response_Group={"Include_Reference": True, "Include_Customer_Data": True},
    )
    # Get_Customers declares Response_Results and Response_Data as repeating; zeep hands back lists.
    results = _single(reply.Response_Results)
    print(
        f"Get_Customers page {results.Page}/{results.Total_Pages}: "
        f"{results.Page_Results} of {results.Total_Results} customers (as of {as_of.isoformat()})"
    )
    return _single(reply.Response_Data).Customer[0]


def _pipedrive_round_trip(sandbox: RunningSandbox, customer: Any) -> None:
    pd = requests.Session()
    pd.headers["x-api-token"] = sandbox.config.pipedrive.api_token
    base = f"{sandbox.pipedrive_url}/api/v2"
    field = pd.post(
        f"{base}/organizationFields",
        json={"field_name": "Workday ID", "field_type": "varchar"},
        timeout=30,
    )
    field.raise_for_status()
    key = field.json()["data"]["field_code"]
    print(f"custom field 'Workday ID' created: {key}")

    data = customer.Customer_Data
    created = pd.post(
        f"{base}/organizations",
        json={"name": data.Customer_Name, "custom_fields": {key: data.Customer_ID}},
        timeout=30,
    )
    created.raise_for_status()
    org_id = created.json()["data"]["id"]
    print(f"organization created: id={org_id} name={data.Customer_Name!r}")

    read = pd.get(f"{base}/organizations/{org_id}", timeout=30)
    read.raise_for_status()
    org = read.json()["data"]
    print(f"organization read back: Workday ID={org['custom_fields'][key]!r}")
    print(
        "rate limit headers: "
        f"burst {read.headers.get('x-ratelimit-remaining')}/{read.headers.get('x-ratelimit-limit')}, "
        f"daily tokens {read.headers.get('x-daily-ratelimit-token-remaining')}"
        f"/{read.headers.get('x-daily-ratelimit-token-limit')}"
    )
    if org["custom_fields"][key] != data.Customer_ID:
        raise RuntimeError("the organization read back does not carry the Workday ID it was created with")


def run_demo(config: SandboxConfig) -> int:
    with run_sandbox(config) as sandbox:
        print(sandbox.banner(), flush=True)
        _step("Workday: exchange the refresh token for an access token")
        token = _workday_access_token(sandbox)
        _step("Workday: one SOAP page of customers, As_Of_Entry_DateTime pinned")
        customer = _workday_customer_page(sandbox, token)
        _step("Pipedrive: custom field, organization create and read")
        _pipedrive_round_trip(sandbox, customer)
        _step("Sandbox statistics")
        for url in (sandbox.workday_url, sandbox.pipedrive_url):
            stats = requests.get(f"{url}/_sandbox/stats", timeout=10).json()
            extra = f", tokens spent {stats['tokens_spent']}" if "tokens_spent" in stats else ""
            print(f"{stats['server']}: {stats['requests_total']} requests {stats['by_status']}{extra}")
    print("\nDemo finished.")
    return 0
