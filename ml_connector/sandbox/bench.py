"""The sandbox's own rate, measured by ``make bench``: it must never be the bottleneck of a sync it serves.

Targets on a 2-core machine: at least 300 Pipedrive creates per second, and a full 999-record
Workday SOAP page served in at most one second.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime

import requests

from ml_connector.sandbox.bench_suite import Figure
from ml_connector.sandbox.config import SandboxConfig
from ml_connector.sandbox.pipedrive.bench import measure_creates
from ml_connector.sandbox.runtime import RunningSandbox, run_sandbox

_GET_CUSTOMERS = """<?xml version="1.0" encoding="utf-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:wd="urn:com.workday/bsvc">
  <soapenv:Header>
    <wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">
      <wsse:UsernameToken>
        <wsse:Username>{user}</wsse:Username>
        <wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">{password}</wsse:Password>
      </wsse:UsernameToken>
    </wsse:Security>
  </soapenv:Header>
  <soapenv:Body>
    <wd:Get_Customers_Request wd:version="{version}">
      <wd:Response_Filter>
        <wd:As_Of_Entry_DateTime>{as_of}</wd:As_Of_Entry_DateTime>
        <wd:Page>{page}</wd:Page>
        <wd:Count>999</wd:Count>
      </wd:Response_Filter>
    </wd:Get_Customers_Request>
  </soapenv:Body>
</soapenv:Envelope>"""


def soap_page_seconds(sandbox: RunningSandbox, repeats: int) -> list[float]:
    """Wall time of ``repeats`` full Get_Customers pages (Count=999), request sent to body received."""
    wd = sandbox.config.workday
    url = f"{sandbox.workday_url}/ccx/service/{wd.tenant}/Revenue_Management/{wd.api_version}"
    as_of = datetime.now(UTC).replace(microsecond=0).isoformat()
    session = requests.Session()
    timings: list[float] = []
    for i in range(repeats):
        body = _GET_CUSTOMERS.format(
            user=f"{wd.isu_username}@{wd.tenant}",
            password=wd.isu_password,
            version=wd.api_version,
            as_of=as_of,
            page=1 + i % 2,
        )
        started = time.perf_counter()
        response = session.post(url, data=body.encode(), headers={"Content-Type": "text/xml; charset=utf-8"})
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        if response.text.count("<wd:Customer>") != 999:
            raise RuntimeError("the benchmark page did not hold 999 customers")
        timings.append(elapsed)
    return timings


def sandbox_figures(creates: int = 3000, threads: int = 4, pages: int = 6) -> list[Figure]:
    """The sandbox's own rate, limits off: Pipedrive creates per second and 999-record SOAP pages."""
    config = SandboxConfig(
        customers=2500, suppliers=100, seed=1, enforce_rate_limits=False, workday_max_rps=1e6
    )
    with run_sandbox(config) as sandbox:
        rate = measure_creates(sandbox.pipedrive_url, config.pipedrive.api_token, creates, threads)
        timings = soap_page_seconds(sandbox, pages)
    median = statistics.median(timings)
    return [
        Figure(
            f"sandbox Pipedrive creates per second ({creates:,} creates, {threads} keep-alive clients)",
            round(rate, 1),
            "creates/s",
            ">= 300",
            rate >= 300,
        ),
        Figure(
            f"sandbox Workday 999-record Get_Customers page, request to body (median of {pages})",
            round(median, 3),
            "s",
            "<= 1 s",
            median <= 1.0,
        ),
    ]
