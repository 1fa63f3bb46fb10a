"""Shared helpers for the WorkdayHook integration tests: route templates and connection forms."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

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
