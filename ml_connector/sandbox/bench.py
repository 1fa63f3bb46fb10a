"""``make bench`` for the sandbox: it must never be the bottleneck of a sync it serves.

Targets on a 2-core machine: at least 300 Pipedrive creates per second, and a full 999-record
Workday SOAP page served in at most one second; then the figures the test suite used to assert as
wall-clock limits (:mod:`ml_connector.sandbox.bench_suite`). Run with ``python -m ml_connector.sandbox.bench``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import requests

from ml_connector.sandbox.bench_suite import suite_figures
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--creates", type=int, default=3000, help="Pipedrive organizations to create")
    parser.add_argument("--threads", type=int, default=4, help="client threads for the create run")
    parser.add_argument("--pages", type=int, default=6, help="999-record SOAP pages to time")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--skip-suite-figures", action="store_true", help="only the sandbox's own throughput figures"
    )
    args = parser.parse_args(argv)

    config = SandboxConfig(
        customers=2500, suppliers=100, seed=1, enforce_rate_limits=False, workday_max_rps=1e6
    )
    with run_sandbox(config) as sandbox:
        creates_per_s = measure_creates(
            sandbox.pipedrive_url, config.pipedrive.api_token, args.creates, args.threads
        )
        pages = soap_page_seconds(sandbox, args.pages)
    figures = {
        "pipedrive_creates_per_s": round(creates_per_s, 1),
        "soap_999_page_median_s": round(statistics.median(pages), 3),
        "soap_999_page_max_s": round(max(pages), 3),
    }
    rate = figures["pipedrive_creates_per_s"]
    print(f"Pipedrive creates/s ({args.creates} creates, {args.threads} threads): {rate}")
    print(
        f"Workday 999-record SOAP page ({args.pages} pages): median {figures['soap_999_page_median_s']} s, "
        f"max {figures['soap_999_page_max_s']} s"
    )
    ok = creates_per_s >= 300 and statistics.median(pages) <= 1.0
    print("targets (>= 300 creates/s, <= 1 s per page):", "met" if ok else "NOT met")
    if not args.skip_suite_figures:
        print("\nFigures the test suite used to assert as wall-clock limits:")
        for figure in suite_figures():
            print(f"  {figure.line()}")
            figures[figure.name] = figure.value
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(figures, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
