"""Reports-as-a-Service: two custom reports a sync would ask a Workday admin to build.

``GET /ccx/service/customreport2/{tenant}/{owner}/{report}?format=json&Updated_From=..&Updated_To=..``.
Like real RaaS output every value is a string, empty fields are left out, and a report with no rows
is ``{}`` (no ``Report_Entry`` key). The prompts filter on the record's last update, in
``[Updated_From, Updated_To)``, which is what a report filter on a "Last Updated" field does.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime

from lxml import etree
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ml_connector.sandbox.config import WorktagRole
from ml_connector.sandbox.oauth import client_from_basic
from ml_connector.sandbox.workday.records import BusinessEntity, Customer, Supplier, Worktag
from ml_connector.sandbox.workday.store import Version
from ml_connector.sandbox.workday.tenant import Tenant

CUSTOMERS_REPORT = "ML_Connector_Customers"
SUPPLIERS_REPORT = "ML_Connector_Suppliers"
PROMPTS = ("Updated_From", "Updated_To")


def raas_time(moment: datetime) -> str:
    """RaaS datetime text: ``2026-10-25T07:15:08.942+00:00``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _worktag(tags: tuple[Worktag, ...], role: WorktagRole) -> str | None:
    """The value of the worktag with this role. The report's author chose which worktag type feeds each
    column, so the columns stay ``Industry``/``Segment``/``Sales_Region`` whatever the types are named."""
    for tag in tags:
        if tag.role == role:
            return tag.value.descriptor
    return None


def _entity_columns(entity: BusinessEntity) -> dict[str, str | None]:
    c = entity.contact
    address = next((a for a in c.addresses if a.usage.primary), None)
    email = next((e for e in c.emails if e.usage.primary), None)
    phone = next((p for p in c.phones if p.usage.primary), None)
    return {
        "Address_Line_1": address.lines[0] if address else None,
        "Address_Line_2": address.lines[1] if address and len(address.lines) > 1 else None,
        "City": address.municipality if address else None,
        "Region": address.region_name if address else None,
        "Region_Code": address.region_code if address else None,
        "Postal_Code": address.postal_code if address else None,
        "Country": address.country_code if address else None,
        "Formatted_Address": address.formatted if address else None,
        "Primary_Email": email.address if email else None,
        "Primary_Phone": phone.formatted if phone else None,
        "Website": c.web[0].url if c.web else None,
        "Tax_ID": entity.tax_id,
    }


def customer_row(version: Version[Customer]) -> dict[str, str | None]:
    c = version.record
    return {
        "Customer_WID": c.reference.wid,
        "Customer_ID": c.customer_id,
        "Customer_Reference_ID": c.customer_reference_id,
        "Customer_Name": c.entity.name,
        "Customer_Category_ID": c.category.ids[0][1],
        "Customer_Category": c.category.descriptor,
        "Customer_Groups": "; ".join(g.descriptor for g in c.groups) or None,
        "Payment_Terms_ID": c.payment_terms.ids[0][1],
        "Payment_Terms": c.payment_terms.descriptor,
        "Currency": c.currency.ids[0][1],
        "Credit_Limit": f"{c.credit_limit:.2f}" if c.credit_limit is not None else None,
        "Customer_Status": c.status.descriptor,
        "Industry": _worktag(c.worktags, "industry"),
        "Segment": _worktag(c.worktags, "segment"),
        "Sales_Region": _worktag(c.worktags, "region"),
        **_entity_columns(c.entity),
        "Supplier_ID": c.supplier_id,
        "Last_Updated": raas_time(version.updated),
    }


def supplier_row(version: Version[Supplier]) -> dict[str, str | None]:
    s = version.record
    return {
        "Supplier_WID": s.reference.wid,
        "Supplier_ID": s.supplier_id,
        "Supplier_Reference_ID": s.supplier_reference_id,
        "Supplier_Name": s.entity.name,
        "Supplier_Category_ID": s.category.ids[0][1],
        "Supplier_Category": s.category.descriptor,
        "Supplier_Groups": "; ".join(g.descriptor for g in s.groups) or None,
        "Payment_Terms_ID": s.payment_terms.ids[0][1],
        "Payment_Terms": s.payment_terms.descriptor,
        "Currency": s.currency.ids[0][1],
        "Supplier_Status": s.status.descriptor,
        "Approval_Status": s.approval_status.descriptor,
        "Industry": _worktag(s.worktags, "industry"),
        "Sales_Region": _worktag(s.worktags, "region"),
        **_entity_columns(s.entity),
        "Customer_ID": s.customer_id,
        "Last_Updated": raas_time(version.updated),
    }


Row = dict[str, str | None]


def _within(moment: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or moment >= start) and (end is None or moment < end)


def _customer_rows(tenant: Tenant, start: datetime | None, end: datetime | None) -> list[Row]:
    versions = tenant.store.customers(tenant.store.now())
    return [customer_row(v) for v in versions if _within(v.updated, start, end)]


def _supplier_rows(tenant: Tenant, start: datetime | None, end: datetime | None) -> list[Row]:
    versions = tenant.store.suppliers(tenant.store.now())
    return [supplier_row(v) for v in versions if _within(v.updated, start, end)]


REPORTS: dict[str, Callable[[Tenant, datetime | None, datetime | None], list[Row]]] = {
    CUSTOMERS_REPORT: _customer_rows,
    SUPPLIERS_REPORT: _supplier_rows,
}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _authorized(tenant: Tenant, authorization: str | None) -> bool:
    basic = client_from_basic(authorization)
    if basic is not None:
        return tenant.isu_ok(*basic, tenant_suffix_required=False)
    return tenant.bearer_state(authorization) == "valid"


def _prompt(request: Request, name: str) -> datetime | str | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return f"Invalid value for prompt {name}: '{raw}' is not a valid date and time."
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def report(request: Request) -> Response:
    tenant: Tenant = request.app.state.tenant
    params = request.path_params
    name = params["report"]
    if (
        params["tenant"] != tenant.name
        or params["owner"] != tenant.config.workday.raas_owner
        or name not in REPORTS
    ):
        return _error(
            404, f"The report '{params['owner']}/{name}' does not exist or you are not authorized to run it."
        )
    if not _authorized(tenant, request.headers.get("authorization")):
        return _error(401, "invalid username or password", {"WWW-Authenticate": 'Basic realm="Workday"'})
    if "xsds" in request.query_params:
        return Response(report_xsd(name), media_type="text/xml; charset=utf-8")
    bounds: list[datetime | None] = []
    for prompt in PROMPTS:
        value = _prompt(request, prompt)
        if isinstance(value, str):
            return _error(400, value)
        bounds.append(value)
    start, end = bounds
    entries = [{k: v for k, v in row.items() if v} for row in REPORTS[name](tenant, start, end)]
    fmt = request.query_params.get("format", "").lower()
    if fmt == "json":
        return JSONResponse({"Report_Entry": entries} if entries else {})
    if fmt == "csv":
        return Response(_csv(name, entries), media_type="text/csv; charset=utf-8")
    if fmt in ("", "simplexml", "xml"):
        return Response(_xml(name, entries), media_type="text/xml; charset=utf-8")
    return _error(400, f"Unsupported format '{fmt}'.")


def columns(name: str) -> tuple[str, ...]:
    """Column aliases of a report, in report order (CSV header, XSD)."""
    entity = (
        "Address_Line_1", "Address_Line_2", "City", "Region", "Region_Code", "Postal_Code", "Country",
        "Formatted_Address", "Primary_Email", "Primary_Phone", "Website", "Tax_ID",
    )  # fmt: skip
    head: tuple[str, ...]
    if name == CUSTOMERS_REPORT:
        head = (
            "Customer_WID", "Customer_ID", "Customer_Reference_ID", "Customer_Name", "Customer_Category_ID",
            "Customer_Category", "Customer_Groups", "Payment_Terms_ID", "Payment_Terms", "Currency",
            "Credit_Limit", "Customer_Status", "Industry", "Segment", "Sales_Region",
        )  # fmt: skip
        return (*head, *entity, "Supplier_ID", "Last_Updated")
    head = (
        "Supplier_WID", "Supplier_ID", "Supplier_Reference_ID", "Supplier_Name", "Supplier_Category_ID",
        "Supplier_Category", "Supplier_Groups", "Payment_Terms_ID", "Payment_Terms", "Currency",
        "Supplier_Status", "Approval_Status", "Industry", "Sales_Region",
    )  # fmt: skip
    return (*head, *entity, "Customer_ID", "Last_Updated")


def _csv(name: str, entries: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns(name), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(entries)
    return out.getvalue()


def _ns(name: str) -> str:
    return f"urn:com.workday.report/{name}"


def _xml(name: str, entries: list[dict[str, str]]) -> bytes:
    ns = _ns(name)
    root = etree.Element(f"{{{ns}}}Report_Data", nsmap={"wd": ns})
    for entry in entries:
        row = etree.SubElement(root, f"{{{ns}}}Report_Entry")
        for key, value in entry.items():
            etree.SubElement(row, f"{{{ns}}}{key}").text = value
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def report_xsd(name: str) -> bytes:
    """The report's schema as ``?xsds`` serves it: ``Report_Data`` of ``Report_Entry`` rows."""
    xs = "http://www.w3.org/2001/XMLSchema"
    ns = _ns(name)
    schema = etree.Element(
        f"{{{xs}}}schema", nsmap={"xsd": xs, "wd": ns}, targetNamespace=ns, elementFormDefault="qualified"
    )
    etree.SubElement(schema, f"{{{xs}}}element", name="Report_Data", type="wd:Report_DataType")
    data_type = etree.SubElement(schema, f"{{{xs}}}complexType", name="Report_DataType")
    seq = etree.SubElement(data_type, f"{{{xs}}}sequence")
    etree.SubElement(seq, f"{{{xs}}}element", name="Report_Entry", type="wd:Report_EntryType",
                     minOccurs="0", maxOccurs="unbounded")  # fmt: skip
    entry_type = etree.SubElement(schema, f"{{{xs}}}complexType", name="Report_EntryType")
    seq = etree.SubElement(entry_type, f"{{{xs}}}sequence")
    for column in columns(name):
        etree.SubElement(seq, f"{{{xs}}}element", name=column, type="xsd:string", minOccurs="0")
    return bytes(etree.tostring(schema, xml_declaration=True, encoding="UTF-8"))
