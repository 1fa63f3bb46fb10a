"""Records from Workday's JSON APIs: RaaS custom reports and the REST ``customerAccounts`` resource.

A report's columns are whatever aliases its author chose; :class:`RaasColumns` is the one place that
names them (the defaults match the reports the README asks an admin to build), so a tenant whose
report differs changes one mapping. RaaS values are all strings and empty columns are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ml_connector.models.workday import (
    WorkdayAddress,
    WorkdayCustomer,
    WorkdayEmail,
    WorkdayPhone,
    WorkdayRef,
    WorkdaySupplier,
)

Row = dict[str, Any]


@dataclass(frozen=True)
class RaasColumns:
    """Column aliases of the customer and supplier reports, and their date prompts."""

    customer_wid: str = "Customer_WID"
    customer_id: str = "Customer_ID"
    customer_reference_id: str = "Customer_Reference_ID"
    customer_name: str = "Customer_Name"
    customer_category_id: str = "Customer_Category_ID"
    customer_category: str = "Customer_Category"
    customer_status: str = "Customer_Status"
    credit_limit: str = "Credit_Limit"
    supplier_wid: str = "Supplier_WID"
    supplier_id: str = "Supplier_ID"
    supplier_reference_id: str = "Supplier_Reference_ID"
    supplier_name: str = "Supplier_Name"
    supplier_category_id: str = "Supplier_Category_ID"
    supplier_category: str = "Supplier_Category"
    supplier_status: str = "Supplier_Status"
    approval_status: str = "Approval_Status"
    groups_suffix: str = "_Groups"  # Customer_Groups / Supplier_Groups, "; "-separated descriptors
    payment_terms_id: str = "Payment_Terms_ID"
    payment_terms: str = "Payment_Terms"
    currency: str = "Currency"
    address_line_1: str = "Address_Line_1"
    address_line_2: str = "Address_Line_2"
    city: str = "City"
    region: str = "Region"
    region_code: str = "Region_Code"
    postal_code: str = "Postal_Code"
    country: str = "Country"
    formatted_address: str = "Formatted_Address"  # Workday's own one-address text, as SOAP gives it
    primary_email: str = "Primary_Email"
    primary_phone: str = "Primary_Phone"
    website: str = "Website"
    tax_id: str = "Tax_ID"
    last_updated: str = "Last_Updated"
    prompt_from: str = "Updated_From"
    prompt_to: str = "Updated_To"
    # report column -> worktag type ID, as the SOAP API names the worktag types
    worktags: tuple[tuple[str, str], ...] = (
        ("Industry", "INDUSTRY"),
        ("Segment", "SEGMENT"),
        ("Sales_Region", "REGION"),
    )


DEFAULT_COLUMNS = RaasColumns()


def _get(row: Row, key: str) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _status(value: str | None) -> str | None:
    return value.strip().upper().replace(" ", "_") if value else None


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _entity(row: Row, c: RaasColumns, kind: str, as_of: datetime) -> dict[str, Any]:
    prefix = kind.lower()
    lines = tuple(v for v in (_get(row, c.address_line_1), _get(row, c.address_line_2)) if v)
    address = WorkdayAddress(
        lines=lines,
        city=_get(row, c.city),
        region_code=_get(row, c.region_code),
        region=_get(row, c.region),
        postal_code=_get(row, c.postal_code),
        country_code=_get(row, c.country),
        formatted=_get(row, c.formatted_address),
        primary=True,
    )
    has_address = any(
        (
            address.lines,
            address.city,
            address.postal_code,
            address.country_code,
            address.region_code,
            address.formatted,
        )
    )
    email, phone, web = _get(row, c.primary_email), _get(row, c.primary_phone), _get(row, c.website)
    category_id = _get(row, getattr(c, f"{prefix}_category_id"))
    category = _get(row, getattr(c, f"{prefix}_category"))
    terms_id, terms = _get(row, c.payment_terms_id), _get(row, c.payment_terms)
    groups = _get(row, f"{kind}{c.groups_suffix}")
    worktags = {tag: v for column, tag in c.worktags if (v := _get(row, column))}
    return {
        "workday_id": _get(row, getattr(c, f"{prefix}_id")) or _get(row, getattr(c, f"{prefix}_wid")),
        "wid": _get(row, getattr(c, f"{prefix}_wid")),
        "reference_id": _get(row, getattr(c, f"{prefix}_reference_id")),
        "name": _get(row, getattr(c, f"{prefix}_name")) or "",
        "category": WorkdayRef(id=category_id, descriptor=category) if category_id or category else None,
        "groups": tuple(WorkdayRef(descriptor=g.strip()) for g in (groups or "").split(";") if g.strip()),
        "payment_terms": WorkdayRef(id=terms_id, descriptor=terms) if terms_id or terms else None,
        "currency": _get(row, c.currency),
        "status": _status(_get(row, getattr(c, f"{prefix}_status"))),
        "worktags": worktags,
        "addresses": (address,) if has_address else (),
        "emails": (WorkdayEmail(value=email, primary=True),) if email else (),
        "phones": (WorkdayPhone(value=phone, primary=True),) if phone else (),
        "web": (web,) if web else (),
        "tax_id": _get(row, c.tax_id),
        "updated_at": _moment(_get(row, c.last_updated)),
        "source": "raas",
        "as_of": as_of,
    }


def raas_customer(row: Row, as_of: datetime, c: RaasColumns = DEFAULT_COLUMNS) -> WorkdayCustomer | None:
    fields = _entity(row, c, "Customer", as_of)
    if not fields["workday_id"]:
        return None
    credit = _get(row, c.credit_limit)
    try:
        fields["credit_limit"] = float(credit) if credit else None
    except ValueError:
        fields["credit_limit"] = None
    fields["supplier_id"] = _get(row, c.supplier_id)
    return WorkdayCustomer.model_validate(fields)


def raas_supplier(row: Row, as_of: datetime, c: RaasColumns = DEFAULT_COLUMNS) -> WorkdaySupplier | None:
    fields = _entity(row, c, "Supplier", as_of)
    if not fields["workday_id"]:
        return None
    fields["approval_status"] = _status(_get(row, c.approval_status))
    fields["customer_id"] = _get(row, c.customer_id)
    return WorkdaySupplier.model_validate(fields)


def report_rows(body: Any) -> list[Row]:
    """``Report_Entry`` rows; a report with no rows is an object without that key."""
    if not isinstance(body, dict):
        raise ValueError("a RaaS JSON report is an object")
    rows = body.get("Report_Entry") or []
    if not isinstance(rows, list):
        raise ValueError("Report_Entry is not a list")
    return [r for r in rows if isinstance(r, dict)]


def _instance(value: Any) -> WorkdayRef | None:
    if not isinstance(value, dict) or not (value.get("id") or value.get("descriptor")):
        return None
    return WorkdayRef(wid=value.get("id"), descriptor=value.get("descriptor"))


def rest_customer(view: Row, as_of: datetime) -> WorkdayCustomer | None:
    """A ``CustomerView``: it carries no Customer_ID, status, address or email, only the WID and a few fields."""
    wid = view.get("id")
    if not wid:
        return None
    money = view.get("creditLimit") or view.get("totalBalance") or {}
    phone = view.get("primaryPhone")
    credit = (view.get("creditLimit") or {}).get("value")
    return WorkdayCustomer(
        workday_id=str(wid),
        wid=str(wid),
        name=str(view.get("name") or view.get("descriptor") or ""),
        category=_instance(view.get("category")),
        groups=tuple(g for g in (_instance(x) for x in view.get("groups") or []) if g is not None),
        payment_terms=_instance(view.get("paymentTerms")),
        currency=money.get("currency") if isinstance(money, dict) else None,
        phones=(WorkdayPhone(value=str(phone), primary=True),) if phone else (),
        credit_limit=float(credit) if isinstance(credit, int | float) else None,
        source="rest",
        as_of=as_of,
    )
