"""Figures the test suite used to guard with wall-clock assertions, measured by ``make bench`` instead.

Timing belongs in a benchmark: on a loaded 2-core machine a suite asserting seconds fails for reasons that
are not bugs. Each figure is printed with the target it used to be held to; nothing here fails a build.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from cryptography.fernet import Fernet

from ml_connector.sandbox.config import SandboxConfig
from ml_connector.sandbox.runtime import RunningSandbox, run_sandbox


@dataclass(frozen=True)
class Figure:
    """One measured figure with its goal; a figure without a goal (``met`` None) is context."""

    name: str
    value: float
    unit: str
    goal: str = ""
    met: bool | None = None

    def line(self) -> str:
        verdict = "" if self.met is None else f" (goal {self.goal}: {'met' if self.met else 'NOT met'})"
        return f"{self.name}: {self.value:g} {self.unit}{verdict}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "unit": self.unit, "goal": self.goal, "met": self.met}


def _seconds(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


@contextmanager
def _connections(sandbox: RunningSandbox) -> Iterator[None]:
    """The hooks' connections pointed at ``sandbox``, with a throwaway token vault."""
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory() as state:
        os.environ.update(
            {
                "AIRFLOW_CONN_WORKDAY_DEFAULT": sandbox.workday_conn_uri,
                "AIRFLOW_CONN_PIPEDRIVE_DEFAULT": sandbox.pipedrive_conn_uri,
                "ML_CONNECTOR_FERNET_KEYS": Fernet.generate_key().decode(),
                "ML_CONNECTOR_STATE_DIR": state,
            }
        )
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


def book_generation() -> Figure:
    from ml_connector.sandbox.workday.data import generate

    seconds = _seconds(lambda: generate(42, 5000, 2500))
    return Figure(
        "sandbox book of 5,000 customers and 2,500 suppliers generated",
        round(seconds, 2),
        "s",
        "< 4 s",
        seconds < 4,
    )


def page_rendering() -> Figure:
    from ml_connector.sandbox.workday import soap_xml
    from ml_connector.sandbox.workday.data import generate

    records = generate(7, 999, 10).customers[:999]
    results = soap_xml.PageResults(total_results=2500, total_pages=3, page_results=len(records), page=1)
    flt = soap_xml.ResponseFilter(date(2026, 11, 27), datetime(2026, 11, 27, 9, 30, tzinfo=UTC), 1, 999)
    soap_xml.render_response("Get_Customers", records[:10], results, version="v45.2", response_filter=flt)
    seconds = _seconds(
        lambda: soap_xml.render_response(
            "Get_Customers", records, results, version="v45.2", response_filter=flt
        )
    )
    return Figure("sandbox renders a 999-customer SOAP page", round(seconds, 3), "s", "< 1 s", seconds < 1)


def hook_pages_and_transform() -> list[Figure]:
    """A 999-record page through ``WorkdayHook`` (request, hardened parse, typed records), and the transform
    of 10,000 customers with their contacts, both on the real code paths."""
    import pyarrow as pa

    from ml_connector.dag.factory import mapping_path
    from ml_connector.hooks.workday import WorkdayHook
    from ml_connector.mapping import load_mapping
    from ml_connector.transform import transform

    config = SandboxConfig(
        customers=10_000, suppliers=10, seed=5, workday_max_rps=1e6, enforce_rate_limits=False
    )
    with run_sandbox(config) as sandbox, _connections(sandbox):
        hook = WorkdayHook()
        try:
            per_page: list[float] = []
            customers: list[Any] = []
            last = time.perf_counter()
            for page in hook.iter_customers():
                now = time.perf_counter()
                if len(page) == 999:
                    per_page.append(now - last)
                customers += page
                last = time.perf_counter()
            contacts = [c for page in hook.iter_contacts() for c in page]
        finally:
            hook.close()

    def table(records: list[Any], key: str, kind: str) -> pa.Table:
        return pa.table(
            {
                "record_key": [str(getattr(r, key)) for r in records],
                "payload": [r.model_dump_json() for r in records],
                "kind": [kind] * len(records),
            }
        )

    mapping = load_mapping(mapping_path("customers"))
    orgs, people = table(customers, "workday_id", "customer"), table(contacts, "contact_id", "contact")
    seconds = _seconds(lambda: transform(mapping, orgs, people, {}))
    median = statistics.median(per_page)
    return [
        Figure(
            "WorkdayHook reads a 999-record Get_Customers page (median)",
            round(median, 3),
            "s",
            "< 3 s",
            median < 3,
        ),
        Figure(
            f"transform of {len(customers):,} customers and {len(contacts):,} contacts",
            round(seconds, 2),
            "s",
            "< 15 s",
            seconds < 15,
        ),
    ]


def pacing() -> Figure:
    """303 requests on the growth plan with an API token: paced under the burst limit, never idle."""
    from ml_connector.hooks.pipedrive import PipedriveHook
    from ml_connector.hooks.pipedrive_http import SAFETY_MARGIN
    from ml_connector.load.execute import run_concurrently
    from ml_connector.pipedrive_limits import BURST_LIMITS, WINDOW_S

    with (
        run_sandbox(SandboxConfig(customers=0, suppliers=0, pipedrive_plan="growth")) as sandbox,
        _connections(sandbox),
    ):
        hook = PipedriveHook()
        try:
            started = time.monotonic()
            hook.connect()
            run_concurrently(
                lambda i: hook.create("organization", {"name": f"Paced {i}"}), range(300), max_workers=4
            )
            _ = [r for page in hook.iter_pages("organization", page_size=100) for r in page]
            elapsed = time.monotonic() - started
        finally:
            hook.close()
    floor = (303 / (BURST_LIMITS["api_token"]["growth"] * SAFETY_MARGIN) - 1) * WINDOW_S
    return Figure(
        "303 paced Pipedrive requests on growth (API token)",
        round(elapsed, 1),
        "s",
        f"< {floor + 15:.1f} s (the burst floor {floor:.1f} s + 15 s)",
        elapsed < floor + 15,
    )


def suite_figures() -> list[Figure]:
    return [book_generation(), page_rendering(), *hook_pages_and_transform(), pacing()]
