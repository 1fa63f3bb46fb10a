"""Flat views of Workday records: the names a mapping's ``source`` refers to.

A view is a plain dict so that mapping a field is one lookup, whatever the record type; the names
and the kinds of their values are declared in :mod:`ml_connector.mapping` (a unit test keeps the two
in step). Text is stripped and blank text is None, so a value that only differs in whitespace never
looks like a change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ml_connector.mapping import WORKTAG_PREFIX
from ml_connector.models.workday import (
    WorkdayAddress,
    WorkdayContact,
    WorkdayCustomer,
    WorkdayEmail,
    WorkdayPhone,
    WorkdayRef,
    WorkdaySupplier,
)

View = dict[str, Any]
Organization = WorkdayCustomer | WorkdaySupplier


def clean(value: str | None) -> str | None:
    """Stripped text, or None when there is none."""
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None


def organization_key(record: Organization) -> str:
    """A supplier that is also a customer is that customer's organization: one Pipedrive record."""
    if isinstance(record, WorkdaySupplier):
        return clean(record.customer_id) or record.workday_id.strip()
    return record.workday_id.strip()


def company_ids(record: Organization) -> tuple[str | None, str | None]:
    """(Customer_ID, Supplier_ID) of the company, whichever side the record was read from."""
    if isinstance(record, WorkdaySupplier):
        return clean(record.customer_id), clean(record.workday_id)
    return clean(record.workday_id), clean(record.supplier_id)


def organization_roles(record: Organization) -> list[str]:
    """Both syncs compute the same set, so they never undo each other's roles."""
    customer_id, supplier_id = company_ids(record)
    return sorted(role for role, present in (("Customer", customer_id), ("Supplier", supplier_id)) if present)


def source_ids(record: Organization) -> str:
    """``CUS-000001`` or ``CUS-000001,SUP-000007``: the Customer_ID first, then the Supplier_ID."""
    return ",".join(i for i in company_ids(record) if i)


def status_label(status: str | None) -> str | None:
    """Workday's ``ACTIVE``/``INACTIVE`` (or any other status ID) as a label: ``Active``/``Inactive``."""
    status = clean(status)
    return status.replace("_", " ").capitalize() if status else None


def format_address(address: WorkdayAddress | None) -> str | None:
    """One line: Workday's formatted address with its line breaks as ", ", else lines, city, postal
    code and country code."""
    if address is None:
        return None
    if clean(address.formatted):
        parts: Iterable[str | None] = (address.formatted or "").splitlines()
    else:
        parts = (*address.lines, address.city, address.postal_code, address.country_code)
    kept = [c for c in (clean(p) for p in parts) if c]
    return ", ".join(kept) or None


def contact_points(items: Iterable[WorkdayEmail | WorkdayPhone]) -> list[dict[str, Any]]:
    """Pipedrive's ``[{value, primary, label}]``: the primary first, the rest sorted, duplicates (case
    ignored) dropped, exactly one primary. Sorting the rest keeps the hash stable when Workday returns
    the same entries in another order."""
    entries = [(item, value) for item in items if (value := clean(item.value))]
    primary = next((e for e in entries if e[0].primary), entries[0] if entries else None)
    rest = sorted((e for e in entries if e is not primary), key=lambda e: (e[1].casefold(), e[1]))
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item, value in [primary, *rest] if primary else []:
        if value.casefold() in seen:
            continue
        seen.add(value.casefold())
        label = "mobile" if isinstance(item, WorkdayPhone) and _is_mobile(item) else "work"
        out.append({"value": value, "primary": not out, "label": label})
    return out


def _is_mobile(phone: WorkdayPhone) -> bool:
    return (phone.device_type or "").strip().casefold() == "mobile"


def _label(ref: WorkdayRef | None) -> str | None:
    return clean(ref.label) if ref else None


def organization_view(record: Organization) -> View:
    """Everything a mapping may take from a customer or supplier (see ``ORGANIZATION_SOURCES``)."""
    address = record.primary_address
    email, phone = record.primary_email, record.primary_phone
    customer_id, supplier_id = company_ids(record)
    view: View = {
        "org_key": organization_key(record),
        "workday_id": clean(record.workday_id),
        "customer_id": customer_id,
        "supplier_id": supplier_id,
        "reference_id": clean(record.reference_id),
        "name": clean(record.name),
        "roles": organization_roles(record),
        "category": _label(record.category),
        "category_id": clean(record.category.id) if record.category else None,
        "groups": sorted({label for g in record.groups if (label := _label(g))}),
        "payment_terms": _label(record.payment_terms),
        "payment_terms_id": clean(record.payment_terms.id) if record.payment_terms else None,
        "currency": clean(record.currency),
        "status": status_label(record.status),
        "country_code": clean(address.country_code) if address else None,
        "region_code": clean(address.region_code) if address else None,
        "region": clean(address.region) if address else None,
        "city": clean(address.city) if address else None,
        "postal_code": clean(address.postal_code) if address else None,
        "primary_address": format_address(address),
        "primary_email": clean(email.value) if email else None,
        "primary_phone": clean(phone.value) if phone else None,
        "website": next((w for w in (clean(w) for w in record.web) if w), None),
        "tax_id": clean(record.tax_id),
        "credit_limit": record.credit_limit if isinstance(record, WorkdayCustomer) else None,
        "approval_status": clean(record.approval_status) if isinstance(record, WorkdaySupplier) else None,
    }
    for worktag_type, value in record.worktags.items():
        view[WORKTAG_PREFIX + worktag_type] = clean(value)
    return view


def person_name(contact: WorkdayContact) -> str | None:
    """The formatted name, else first and last name; never the contact ID (unlike ``contact.name``):
    a person named after an ID is worse than a rejection that says the name is missing."""
    joined = " ".join(p for p in (clean(contact.first_name), clean(contact.last_name)) if p)
    return clean(contact.formatted_name) or joined or None


def person_view(contact: WorkdayContact, org_key: str | None) -> View:
    """Everything a mapping may take from a contact (see ``PERSON_SOURCES``)."""
    emails = contact_points(contact.emails)
    phones = contact_points(contact.phones)
    return {
        "person_key": clean(contact.contact_id),
        "contact_id": clean(contact.contact_id),
        "org_key": org_key,
        "customer_id": clean(contact.customer_id),
        "supplier_id": clean(contact.supplier_id),
        "name": person_name(contact),
        "first_name": clean(contact.first_name),
        "last_name": clean(contact.last_name),
        "emails": emails,
        "phones": phones,
        "primary_email": emails[0]["value"] if emails else None,
        "primary_phone": phones[0]["value"] if phones else None,
    }
