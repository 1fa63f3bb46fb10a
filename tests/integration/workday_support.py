"""Shared helpers for the WorkdayHook integration tests: route templates and connection forms."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import requests

from ml_connector.sandbox.runtime import RunningSandbox

REVENUE_POST = "POST /ccx/service/{tenant}/Revenue_Management/{version}"
RESOURCE_POST = "POST /ccx/service/{tenant}/Resource_Management/{version}"
TOKEN_POST = "POST /ccx/oauth2/{tenant}/token"
REST_GET = "GET /ccx/api/customerAccounts/v1/{tenant}/customers"
RAAS_GET = "GET /ccx/service/customreport2/{tenant}/{owner}/{report}"
OWNER = "ISU_ML_Connector"


def oauth_uri(sandbox: RunningSandbox, **extra: Any) -> str:
    """The sandbox's OAuth connection URI with more extras appended."""
    return sandbox.workday_conn_uri + ("&" + urlencode(extra) if extra else "")


def isu_json(sandbox: RunningSandbox, password: str | None = None, **extra: Any) -> str:
    """An ISU connection as Airflow's JSON form."""
    w = sandbox.config.workday
    host, port = sandbox.workday_url.removeprefix("http://").split(":")
    return json.dumps(
        {
            "conn_type": "workday",
            "host": host,
            "port": int(port),
            "schema": w.tenant,
            "login": w.isu_username,
            "password": password or w.isu_password,
            "extra": {"auth_kind": "isu", "protocol": "http", **extra},
        }
    )


def flat(pages: Iterator[list[Any]]) -> list[Any]:
    return [record for page in pages for record in page]


def real_page(sandbox: RunningSandbox, page: int, count: int) -> bytes:
    """Page ``page`` of ``Get_Customers`` at ``count`` a page, as the sandbox answers it over HTTP."""
    wd = sandbox.config.workday
    token = requests.post(
        f"{sandbox.workday_url}/ccx/oauth2/{wd.tenant}/token",
        data={"grant_type": "refresh_token", "refresh_token": wd.refresh_token},
        auth=(wd.client_id, wd.client_secret),
        timeout=30,
    ).json()["access_token"]
    body = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:wd="urn:com.workday/bsvc"><soapenv:Body><wd:Get_Customers_Request><wd:Response_Filter>'
        f"<wd:Page>{page}</wd:Page><wd:Count>{count}</wd:Count></wd:Response_Filter>"
        "<wd:Response_Group><wd:Include_Reference>true</wd:Include_Reference>"
        "<wd:Include_Customer_Data>true</wd:Include_Customer_Data></wd:Response_Group>"
        "</wd:Get_Customers_Request></soapenv:Body></soapenv:Envelope>"
    )
    response = requests.post(
        f"{sandbox.workday_url}/ccx/service/{wd.tenant}/Revenue_Management/{wd.api_version}",
        data=body.encode(),
        headers={"Content-Type": "text/xml; charset=utf-8", "Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text[:300]
    return response.content
