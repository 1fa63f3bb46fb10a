"""SOAP ``Customer`` / ``Supplier`` / ``Business_Entity_Contact`` elements into typed records.

Read by local name and never assuming an element is present: tenants run different WSDL versions
(v38 wraps tax IDs in ``Tax_ID_Widget_Data``, later versions add fields), and a missing element just
leaves its field at the default.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TypeVar

from ml_connector.hooks import workday_xml as wx
from ml_connector.models.workday import (
    WorkdayAddress,
    WorkdayContact,
    WorkdayCustomer,
    WorkdayEmail,
    WorkdayPhone,
    WorkdayRef,
    WorkdaySupplier,
)

Element = wx.Element
_T = TypeVar("_T")


def ref(el: Element | None, id_type: str | None = None) -> WorkdayRef | None:
    """A reference as ID (of ``id_type`` when given, else the first business ID), descriptor and WID."""
    if el is None:
        return None
    found = wx.ids(el)
    wid = found.pop("WID", None)
    value = found.get(id_type) if id_type else None
    if value is None and found:
        value = next(iter(found.values()))
    descriptor = wx.attr(el, "Descriptor")
    if value is None and descriptor is None and wid is None:
        return None
    return WorkdayRef(id=value, descriptor=descriptor, wid=wid)


def record_key(record: Element, kind: str) -> str | None:
    """What identifies a ``kind`` record element (its reference's WID, else its first ID, else the
    ``<kind>_ID`` of its data), so a scan can tell a record it already read; None when it has none."""
    reference = wx.ids(wx.child(record, f"{kind}_Reference"))
    key = reference.get("WID") or next(iter(reference.values()), None)
    return key or wx.text(record, f"{kind}_Data/{kind}_ID")


def _ref_id(el: Element | None, id_type: str) -> str | None:
    return wx.ids(el).get(id_type) if el is not None else None


def _usage(el: Element) -> tuple[bool, str | None]:
    """(primary, usage type) from ``Usage_Data/Type_Data``."""
    type_data = wx.child(el, "Usage_Data/Type_Data")
    if type_data is None:
        return False, None
    usage = _ref_id(wx.child(type_data, "Type_Reference"), "Communication_Usage_Type_ID")
    return wx.flag(wx.attr(type_data, "Primary")), usage


def _line_order(el: Element) -> str:
    return wx.attr(el, "Type") or ""


def address(el: Element) -> WorkdayAddress:
    line_els = sorted(wx.children(el, "Address_Line_Data"), key=_line_order)
    primary, usage = _usage(el)
    region_ref = wx.child(el, "Country_Region_Reference")
    return WorkdayAddress(
        lines=tuple(t for t in (wx.text(line) for line in line_els) if t),
        city=wx.text(el, "Municipality"),
        region_code=_ref_id(region_ref, "ISO_3166-2_Code"),
        region=wx.text(el, "Country_Region_Descriptor")
        or (wx.attr(region_ref, "Descriptor") if region_ref is not None else None),
        postal_code=wx.text(el, "Postal_Code"),
        country_code=_ref_id(wx.child(el, "Country_Reference"), "ISO_3166-1_Alpha-2_Code"),
        formatted=wx.attr(el, "Formatted_Address"),
        primary=primary,
        usage=usage,
    )


def email(el: Element) -> WorkdayEmail | None:
    value = wx.text(el, "Email_Address")
    if value is None:
        return None
    primary, usage = _usage(el)
    return WorkdayEmail(value=value, primary=primary, usage=usage)


def phone(el: Element) -> WorkdayPhone | None:
    value = wx.attr(el, "Formatted_Phone")
    if not value:
        parts = [wx.text(el, n) for n in ("International_Phone_Code", "Area_Code", "Phone_Number")]
        value = " ".join(p for p in parts if p)
        if value and parts[0]:
            value = "+" + value
    if not value:
        return None
    primary, usage = _usage(el)
    return WorkdayPhone(
        value=value,
        primary=primary,
        usage=usage,
        device_type=_ref_id(wx.child(el, "Phone_Device_Type_Reference"), "Phone_Device_Type_ID"),
        e164=wx.attr(el, "E164_Formatted_Phone"),
    )


def _present(items: Iterator[_T | None]) -> tuple[_T, ...]:
    return tuple(i for i in items if i is not None)


def contact_data(el: Element | None) -> dict[str, tuple[object, ...]]:
    if el is None:
        return {}
    return {
        "addresses": tuple(address(a) for a in wx.children(el, "Address_Data")),
        "phones": _present(phone(p) for p in wx.children(el, "Phone_Data")),
        "emails": _present(email(e) for e in wx.children(el, "Email_Address_Data")),
        "web": _present(wx.text(w, "Web_Address") for w in wx.children(el, "Web_Address_Data")),
    }


def _widget(data: Element, name: str) -> Iterator[Element]:
    """``name`` children of ``data``, also inside the ``*_Widget_Data`` wrappers newer versions add."""
    for el in data:
        tag = wx.local(el)
        if tag == name:
            yield el
        elif tag.endswith("_Widget_Data"):
            yield from wx.children(el, name)


def tax_id(data: Element, entity: Element | None) -> str | None:
    tax = list(_widget(data, "Tax_ID_Data"))
    tax.sort(key=lambda t: not wx.flag(wx.text(t, "Primary_Tax_ID")))
    for t in tax:
        value = wx.text(t, "Tax_ID_Text")
        if value:
            return value
    return wx.text(entity, "Business_Entity_Tax_ID")


def worktags(data: Element) -> tuple[dict[str, str], dict[str, str]]:
    """({type: value label}, {type: value ID}) from ``Related_Worktags_Data``."""
    labels: dict[str, str] = {}
    value_ids: dict[str, str] = {}
    for by_type in wx.children(wx.child(data, "Related_Worktags_Data"), "Related_Worktags_by_Type_Data"):
        kind = ref(wx.child(by_type, "Worktag_Type_Reference"), "Accounting_Worktag_Type_ID")
        value = ref(wx.child(by_type, "Default_Worktag_Data/Default_Worktag_Reference"))
        if kind is None or kind.id is None or value is None:
            continue
        if value.label:
            labels[kind.id] = value.label
        if value.id:
            value_ids[kind.id] = value.id
    return labels, value_ids


def status(el: Element | None) -> str | None:
    if el is None:
        return None
    value = _ref_id(el, "Business_Entity_Status_Value_ID") or wx.attr(el, "Descriptor")
    return value.strip().upper().replace(" ", "_") if value else None


def _common(record: Element, data: Element, kind: str, as_of: datetime) -> dict[str, object]:
    entity = wx.child(data, "Business_Entity_Data")
    labels, value_ids = worktags(data)
    reference = wx.ids(wx.child(record, f"{kind}_Reference"))
    currency = ref(wx.child(data, "Currency_Reference"), "Currency_ID")
    return {
        "workday_id": wx.text(data, f"{kind}_ID") or reference.get(f"{kind}_ID") or reference.get("WID"),
        "wid": reference.get("WID"),
        "reference_id": wx.text(data, f"{kind}_Reference_ID") or reference.get(f"{kind}_Reference_ID"),
        "name": wx.text(data, f"{kind}_Name") or wx.text(entity, "Business_Entity_Name") or "",
        "category": ref(wx.child(data, f"{kind}_Category_Reference"), f"{kind}_Category_ID"),
        "groups": _present(ref(g, f"{kind}_Group_ID") for g in wx.children(data, f"{kind}_Group_Reference")),
        "payment_terms": ref(wx.child(data, "Payment_Terms_Reference"), "Payment_Terms_ID"),
        "currency": currency.id if currency else None,
        "worktags": labels,
        "worktag_ids": value_ids,
        "tax_id": tax_id(data, entity),
        **contact_data(wx.child(entity, "Contact_Data")),
        "source": "soap",
        "as_of": as_of,
    }


def customer(record: Element, as_of: datetime) -> WorkdayCustomer | None:
    data = wx.child(record, "Customer_Data")
    if data is None:
        return None
    credit = wx.text(data, "Credit_Limit")
    return WorkdayCustomer.model_validate(
        {
            **_common(record, data, "Customer", as_of),
            "status": status(wx.child(data, "Customer_Status_Data/Customer_Status_Value_Reference")),
            "credit_limit": float(credit) if credit else None,
            "supplier_id": _ref_id(wx.child(data, "Create_Customer_from_Supplier_Reference"), "Supplier_ID"),
        }
    )


def supplier(record: Element, as_of: datetime) -> WorkdaySupplier | None:
    data = wx.child(record, "Supplier_Data")
    if data is None:
        return None
    approval = ref(wx.child(data, "Approval_Status_Reference"), "Document_Status_ID")
    return WorkdaySupplier.model_validate(
        {
            **_common(record, data, "Supplier", as_of),
            "status": status(wx.child(data, "Supplier_Status_Data/Status_Reference")),
            "approval_status": approval.id if approval else None,
            "customer_id": _ref_id(wx.child(data, "Create_Supplier_from_Customer_Reference"), "Customer_ID"),
        }
    )


def contact(record: Element, as_of: datetime) -> WorkdayContact | None:
    data = wx.child(record, "Business_Entity_Contact_Data")
    if data is None:
        return None
    reference = wx.ids(wx.child(record, "Business_Entity_Contact_Reference"))
    contact_id = wx.text(data, "Business_Entity_Contact_ID") or reference.get("Business_Entity_Contact_ID")
    if contact_id is None:
        return None
    personal = wx.child(data, "Business_Entity_Contact_Personal_Data")
    name = wx.child(personal, "Name_Data/Name_Detail_Data")
    customer_ref = wx.ids(wx.child(data, "Billable_Entity_Reference"))
    supplier_ref = wx.ids(wx.child(data, "Supplier_Reference"))
    details = contact_data(wx.child(personal, "Contact_Data"))
    return WorkdayContact.model_validate(
        {
            "contact_id": contact_id,
            "wid": reference.get("WID"),
            "first_name": wx.text(name, "First_Name"),
            "last_name": wx.text(name, "Last_Name"),
            "formatted_name": wx.attr(name, "Formatted_Name") if name is not None else None,
            "emails": details.get("emails", ()),
            "phones": details.get("phones", ()),
            "customer_id": customer_ref.get("Customer_ID"),
            "supplier_id": supplier_ref.get("Supplier_ID"),
            "parent_wid": customer_ref.get("WID") or supplier_ref.get("WID"),
            "primary_bill_to": wx.flag(wx.text(data, "Primary_Bill_To_Contact")),
            "source": "soap",
            "as_of": as_of,
        }
    )
