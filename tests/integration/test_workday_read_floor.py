"""Workday reads at their floor: a run's extract asks for ``ceil(N / 999)`` pages of its entity and reads the
tenant's contacts once, in 999-record pages (``Get_Business_Entity_Contacts`` has no criteria to narrow it)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from support.sandbox import workday_server

from ml_connector.dag.context import RunContext
from ml_connector.dag.tasks import extract
from ml_connector.mapping import load_mapping
from ml_connector.sandbox.runtime import RunningSandbox
from ml_connector.staging.area import StagingArea

ROOT = Path(__file__).resolve().parents[2]
PAGE = 999


def _soap_requests(sandbox: RunningSandbox) -> dict[str, int]:
    """SOAP requests by service (the route's ``{service}``), from the sandbox's request log."""
    counts: dict[str, int] = {}
    for route, count in workday_server(sandbox).by_route().items():
        if route.startswith("POST /ccx/service/"):
            service = route.split("/")[4]
            counts[service] = counts.get(service, 0) + count
    return counts


@pytest.mark.parametrize(
    ("entity", "dag_id", "service"),
    [
        ("customers", "workday_customers_to_pipedrive", "Revenue_Management"),
        ("suppliers", "workday_suppliers_to_pipedrive", "Resource_Management"),
    ],
)
def test_a_full_extract_reads_each_record_and_each_contact_once_in_999_record_pages(
    make_sandbox: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    entity: str,
    dag_id: str,
    service: str,
) -> None:
    sandbox: RunningSandbox = make_sandbox(customers=2100, suppliers=2100)
    monkeypatch.setenv("AIRFLOW_CONN_WORKDAY_DEFAULT", sandbox.workday_conn_uri)
    summary = workday_server(sandbox).summary()
    records, contacts = summary[entity]["total"], summary["contacts"]["total"]
    workday_server(sandbox).control("POST", "/reset")

    ctx = RunContext(
        dag_id=dag_id,
        run_id="manual__2026-11-27T00:00:00+00:00",
        mapping=load_mapping(ROOT / "include" / "mappings" / f"{entity}.yaml"),
        area=StagingArea(f"file://{tmp_path}"),
        mode="full_refresh",
        run_after=datetime(2026, 11, 27, tzinfo=UTC),
    )
    extract(ctx)

    by_service = _soap_requests(sandbox)
    record_pages, contact_pages = math.ceil(records / PAGE), math.ceil(contacts / PAGE)
    if service == "Revenue_Management":  # customers and contacts share the service
        assert by_service == {service: record_pages + contact_pages}
    else:
        assert by_service == {service: record_pages, "Revenue_Management": contact_pages}
    assert ctx.files.count_rows("extracted_organizations") == records
    assert contacts > records  # the tenant's contacts are read whole; the extract keeps the entity's own
    assert 0 < ctx.files.count_rows("extracted_contacts") < contacts
