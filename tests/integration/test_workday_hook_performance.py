"""How long a 999-record ``Get_Customers`` page takes through the hook: request, hardened parse, typed records.

The sandbox runs in the same process (it competes for the GIL), so the figures are an upper bound for
the client side; the README's sandbox benchmark gives the server's own share.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest

from ml_connector.hooks.workday import WorkdayHook
from ml_connector.sandbox.runtime import RunningSandbox


def test_a_999_record_page_is_read_and_typed_in_well_under_zeeps_parse_time(
    make_sandbox: Callable[..., RunningSandbox],
    workday_connect: Callable[[str], WorkdayHook],
    capsys: pytest.CaptureFixture[str],
) -> None:
    sandbox = make_sandbox(customers=2000, suppliers=10)
    hook = workday_connect(sandbox.workday_conn_uri)  # page_size defaults to 999
    assert [len(p) for p in hook.iter_customers()] == [999, 999, 2]  # warm: WSDL and token loaded once
    per_page: list[float] = []
    totals: list[float] = []
    for _ in range(3):
        started = last = time.perf_counter()
        for page in hook.iter_customers():
            now = time.perf_counter()
            if len(page) == 999:
                per_page.append(now - last)
            last = now
        totals.append(time.perf_counter() - started)
    figures: dict[str, Any] = {
        "page_median_s": round(statistics.median(per_page), 3),
        "page_max_s": round(max(per_page), 3),
        "scan_2000_median_s": round(statistics.median(totals), 3),
    }
    with capsys.disabled():
        print(f"\nWorkdayHook.iter_customers, 999-record pages: {figures}")
    assert statistics.median(per_page) < 3.0  # zeep alone needs ~5 s to parse such a page
