"""SOAP XML the Workday sandbox sends: ``Get_*`` responses and faults, in Workday's own shapes.

Pure rendering, no HTTP. Element order, namespaces and prefixes follow real Workday output: bodies in an
``env:`` envelope with ``wd:`` declared on the response element, faults in a ``SOAP-ENV:`` envelope,
booleans as ``0``/``1``, timestamps with milliseconds and an offset, references as a WID plus business IDs.
Every response validates against :func:`ml_connector.sandbox.workday.wsdl.soap_schema`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal

from lxml import etree

from ml_connector.sandbox.workday.records import (
    Address,
    Contact,
    ContactData,
    Customer,
    Email,
    Phone,
    Reference,
    Supplier,
    Usage,
    WebAddress,
    Worktag,
)

WD_NS = "urn:com.workday/bsvc"
SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"

_W = f"{{{WD_NS}}}"
_ENV = f"{{{SOAP_ENV_NS}}}"
_ID = _W + "ID"
_TYPE = _W + "type"
_DESCRIPTOR = _W + "Descriptor"

OPERATION_RECORD = {
    "Get_Customers": "Customer",
    "Get_Suppliers": "Supplier",
    "Get_Business_Entity_Contacts": "Business_Entity_Contact",
}


@dataclass(frozen=True)
class ResponseFilter:
    """The ``Response_Filter`` Workday echoes: the snapshot moment and the page asked for."""

    as_of_effective_date: date
    as_of_entry_datetime: datetime
    page: int
    count: int


@dataclass(frozen=True)
class PageResults:
    """``Response_Results``: what a client needs to page through a result set."""

    total_results: int
    total_pages: int
    page_results: int
    page: int


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, _W + name)
    if text is not None:
        el.text = text
    return el


def _bool(value: bool) -> str:
    return "1" if value else "0"


def format_datetime(value: datetime) -> str:
    """Workday's timestamp form, ``2026-11-27T10:15:00.000+00:00`` (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat(timespec="milliseconds")


def format_decimal(value: float | int | Decimal) -> str:
    """A decimal without exponent or trailing zeros, e.g. ``50000`` or ``1234.5``."""
    text = format(Decimal(str(value)).normalize(), "f")
    return text


def synthetic_wid(kind: str, key: str) -> str:
    """A stable 32-hex WID for lookup objects the records carry only by code (countries, usage types ...)."""
    return hashlib.md5(f"{kind}:{key}".encode(), usedforsecurity=False).hexdigest()


_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_CONTROL_CHARS = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f]")


def _text(value: str) -> str:
    """Escape character data. A C0 control character becomes a character reference (``&#x1;``), as
    Workday writes one: not well-formed XML 1.0, which is the point (``unparseable_customers``); anything
    else XML cannot carry is refused."""
    if "&" in value or "<" in value or ">" in value:
        value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if _INVALID_XML_CHARS.search(value):
        value = _CONTROL_CHARS.sub(lambda m: f"&#x{ord(m.group()):x};", value)
        if _INVALID_XML_CHARS.search(value):
            raise ValueError(f"not allowed in XML: {value!r}")
    return value


def _attr(value: str) -> str:
    """Escape an attribute value so that line breaks survive (``Formatted_Address`` holds several lines)."""
    value = _text(value)
    if '"' in value or "\n" in value or "\r" in value or "\t" in value:
        value = (
            value.replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")
        )
    return value


class _Writer:
    """Writes the ``wd:`` record elements of one response as text.

    The records of a 999-row page come to ~130,000 elements; lxml's element API costs about 2 µs per
    element, which alone would exceed the sandbox's latency budget, so record bodies are written directly
    (every value escaped) and spliced into the lxml-built envelope. Tests parse and schema-validate the
    result. References repeat heavily across records (category, currency, status ...), so each rendered
    reference is memoised for the page.
    """

    def __init__(self, include_descriptors: bool) -> None:
        self.descriptors = include_descriptors
        self.parts: list[str] = []
        self._refs: dict[tuple[str, Reference], str] = {}

    def leaf(self, name: str, text: str) -> None:
        self.parts.append(f"<wd:{name}>{_text(text)}</wd:{name}>")

    def ref(
        self,
        name: str,
        ids: Sequence[tuple[str, str]],
        descriptor: str | None = None,
        wid: str | None = None,
    ) -> str:
        head = (
            f'<wd:{name} wd:Descriptor="{_attr(descriptor)}">'
            if self.descriptors and descriptor
            else f"<wd:{name}>"
        )
        body = f'<wd:ID wd:type="WID">{_text(wid)}</wd:ID>' if wid else ""
        body += "".join(f'<wd:ID wd:type="{_attr(t)}">{_text(v)}</wd:ID>' for t, v in ids)
        return f"{head}{body}</wd:{name}>"

    def reference(self, name: str, reference: Reference) -> None:
        key = (name, reference)
        text = self._refs.get(key)
        if text is None:
            text = self._refs[key] = self.ref(name, reference.ids, reference.descriptor, reference.wid)
        self.parts.append(text)

    def lookup(self, name: str, id_type: str, value: str, descriptor: str) -> None:
        """A reference to a tenant lookup value the records hold only by its ID (usage type, country ...)."""
        self.reference(name, Reference(synthetic_wid(id_type, value), ((id_type, value),), descriptor))

    # -- contact data -------------------------------------------------------------------------------

    def usage(self, usage: Usage) -> None:
        out = self.parts
        out.append(f'<wd:Usage_Data wd:Public="{_bool(usage.public)}">')
        out.append(f'<wd:Type_Data wd:Primary="{_bool(usage.primary)}">')
        self.lookup("Type_Reference", "Communication_Usage_Type_ID", usage.type_id, usage.type_id.title())
        out.append("</wd:Type_Data></wd:Usage_Data>")

    def address(self, address: Address) -> None:
        out = self.parts
        out.append(
            f'<wd:Address_Data wd:Formatted_Address="{_attr(address.formatted)}" wd:Address_Format_Type="Basic"'
            f' wd:Defaulted_Business_Site_Address="0" wd:Effective_Date="{address.effective_date.isoformat()}">'
        )
        self.lookup(
            "Country_Reference", "ISO_3166-1_Alpha-2_Code", address.country_code, address.country_code
        )
        self.leaf("Last_Modified", format_datetime(address.last_modified))
        for number, line in enumerate(address.lines, start=1):
            out.append(
                f'<wd:Address_Line_Data wd:Descriptor="Address Line {number}" wd:Type="ADDRESS_LINE_{number}">'
                f"{_text(line)}</wd:Address_Line_Data>"
            )
        self.leaf("Municipality", address.municipality)
        if address.region_code:
            region_name = address.region_name or address.region_code
            self.lookup("Country_Region_Reference", "ISO_3166-2_Code", address.region_code, region_name)
            self.leaf("Country_Region_Descriptor", region_name)
        if address.postal_code:
            self.leaf("Postal_Code", address.postal_code)
        self.usage(address.usage)
        out.append(self.ref("Address_Reference", (("Address_ID", address.address_id),), address.address_id))
        out.append("</wd:Address_Data>")

    def phone(self, phone: Phone) -> None:
        out = self.parts
        out.append(f'<wd:Phone_Data wd:Formatted_Phone="{_attr(phone.formatted)}">')
        self.leaf("Country_ISO_Code", phone.country_alpha3)
        self.leaf("International_Phone_Code", phone.international_code)
        self.leaf("Area_Code", phone.area_code)
        self.leaf("Phone_Number", phone.number)
        if phone.extension:
            self.leaf("Phone_Extension", phone.extension)
        self.lookup(
            "Phone_Device_Type_Reference", "Phone_Device_Type_ID", phone.device_type, phone.device_type
        )
        self.usage(phone.usage)
        out.append(self.ref("Phone_Reference", (("Phone_ID", phone.phone_id),), phone.phone_id))
        out.append("</wd:Phone_Data>")

    def email(self, email: Email) -> None:
        self.parts.append("<wd:Email_Address_Data>")
        self.leaf("Email_Address", email.address)
        self.usage(email.usage)
        self.parts.append(self.ref("Email_Reference", (("Email_ID", email.email_id),), email.email_id))
        self.parts.append("</wd:Email_Address_Data>")

    def web(self, web: WebAddress) -> None:
        self.parts.append("<wd:Web_Address_Data>")
        self.leaf("Web_Address", web.url)
        self.usage(web.usage)
        self.parts.append("</wd:Web_Address_Data>")

    def contact_data(self, data: ContactData) -> None:
        self.parts.append("<wd:Contact_Data>")
        for address in data.addresses:
            self.address(address)
        for phone in data.phones:
            self.phone(phone)
        for email in data.emails:
            self.email(email)
        for web in data.web:
            self.web(web)
        self.parts.append("</wd:Contact_Data>")

    # -- records ------------------------------------------------------------------------------------

    def tax_id(self, tax_id: str | None) -> None:
        if tax_id:
            self.parts.append("<wd:Tax_ID_Data>")
            self.leaf("Tax_ID_Text", tax_id)
            self.parts.append(
                "<wd:Transaction_Tax_ID>1</wd:Transaction_Tax_ID><wd:Primary_Tax_ID>1</wd:Primary_Tax_ID>"
            )
            self.parts.append("</wd:Tax_ID_Data>")

    def worktags(self, worktags: Sequence[Worktag]) -> None:
        if not worktags:
            return
        out = self.parts
        out.append("<wd:Related_Worktags_Data>")
        for worktag in worktags:
            out.append("<wd:Related_Worktags_by_Type_Data>")
            self.reference("Worktag_Type_Reference", worktag.worktag_type)
            out.append("<wd:Default_Worktag_Data>")
            self.reference("Default_Worktag_Reference", worktag.value)
            out.append("</wd:Default_Worktag_Data></wd:Related_Worktags_by_Type_Data>")
        out.append("</wd:Related_Worktags_Data>")

    def customer(self, customer: Customer) -> None:
        out = self.parts
        out.append("<wd:Customer>")
        self.reference("Customer_Reference", customer.reference)
        out.append("<wd:Customer_Data>")
        self.leaf("Customer_ID", customer.customer_id)
        self.leaf("Customer_Reference_ID", customer.customer_reference_id)
        self.leaf("Customer_Name", customer.entity.name)
        out.append("<wd:Worktag_Only>0</wd:Worktag_Only>")
        if customer.supplier_id:
            out.append(
                self.ref("Create_Customer_from_Supplier_Reference", (("Supplier_ID", customer.supplier_id),))
            )
        self.reference("Customer_Category_Reference", customer.category)
        for group in customer.groups:
            self.reference("Customer_Group_Reference", group)
        self.reference("Payment_Terms_Reference", customer.payment_terms)
        if customer.credit_limit is not None:
            self.reference("Credit_Limit_Currency_Reference", customer.currency)
            self.leaf("Credit_Limit", format_decimal(customer.credit_limit))
        self.tax_id(customer.entity.tax_id)
        out.append("<wd:Business_Entity_Data>")
        self.leaf("Business_Entity_Name", customer.entity.name)
        if customer.entity.external_entity_id:
            self.leaf("External_Entity_ID", customer.entity.external_entity_id)
        self.contact_data(customer.entity.contact)
        out.append("</wd:Business_Entity_Data><wd:Customer_Status_Data>")
        self.reference("Customer_Status_Value_Reference", customer.status)
        out.append("</wd:Customer_Status_Data>")
        self.reference("Currency_Reference", customer.currency)
        self.worktags(customer.worktags)
        out.append("</wd:Customer_Data></wd:Customer>")

    def supplier(self, supplier: Supplier) -> None:
        out = self.parts
        out.append("<wd:Supplier>")
        self.reference("Supplier_Reference", supplier.reference)
        out.append("<wd:Supplier_Data>")
        self.leaf("Supplier_ID", supplier.supplier_id)
        self.leaf("Supplier_Reference_ID", supplier.supplier_reference_id)
        self.leaf("Supplier_Name", supplier.entity.name)
        out.append("<wd:Worktag_Only>0</wd:Worktag_Only>")
        self.reference("Approval_Status_Reference", supplier.approval_status)
        if supplier.customer_id:
            out.append(
                self.ref("Create_Supplier_from_Customer_Reference", (("Customer_ID", supplier.customer_id),))
            )
        self.tax_id(supplier.entity.tax_id)
        self.reference("Supplier_Category_Reference", supplier.category)
        for group in supplier.groups:
            self.reference("Supplier_Group_Reference", group)
        self.reference("Payment_Terms_Reference", supplier.payment_terms)
        out.append("<wd:Business_Entity_Data>")
        self.leaf("Business_Entity_Name", supplier.entity.name)
        if supplier.entity.tax_id:
            self.leaf("Business_Entity_Tax_ID", supplier.entity.tax_id)
        if supplier.entity.external_entity_id:
            self.leaf("External_Entity_ID", supplier.entity.external_entity_id)
        self.contact_data(supplier.entity.contact)
        out.append("</wd:Business_Entity_Data><wd:Supplier_Status_Data>")
        self.reference("Status_Reference", supplier.status)
        out.append("</wd:Supplier_Status_Data>")
        self.reference("Currency_Reference", supplier.currency)
        out.append("</wd:Supplier_Data></wd:Supplier>")

    def contact(self, contact: Contact) -> None:
        out = self.parts
        out.append("<wd:Business_Entity_Contact>")
        self.reference("Business_Entity_Contact_Reference", contact.reference)
        out.append("<wd:Business_Entity_Contact_Data>")
        self.leaf("Primary_Bill_To_Contact", _bool(contact.primary_bill_to))
        self.leaf("Default_Bill_To_Contact", _bool(contact.default_bill_to))
        self.leaf("Business_Entity_Contact_ID", contact.contact_id)
        # a reference carries the WID beside the reference ID, as every Workday reference does
        if contact.supplier_id:
            ids = (("Supplier_ID", contact.supplier_id),)
            out.append(self.ref("Supplier_Reference", ids, wid=contact.parent_wid))
        elif contact.customer_id:
            ids = (("Customer_ID", contact.customer_id),)
            out.append(self.ref("Billable_Entity_Reference", ids, wid=contact.parent_wid))
        else:
            raise ValueError(f"contact {contact.contact_id} belongs to neither a customer nor a supplier")
        name = contact.name
        formatted = " ".join(part for part in (name.prefix, name.first, name.middle, name.last) if part)
        out.append(
            "<wd:Business_Entity_Contact_Personal_Data><wd:Name_Data>"
            f'<wd:Name_Detail_Data wd:Formatted_Name="{_attr(formatted)}"'
            f' wd:Reporting_Name="{_attr(f"{name.last}, {name.first}")}">'
        )
        self.lookup("Country_Reference", "ISO_3166-1_Alpha-2_Code", name.country_code, name.country_code)
        if name.prefix:
            out.append("<wd:Prefix_Data>")
            self.leaf("Title_Descriptor", name.prefix)
            out.append("</wd:Prefix_Data>")
        self.leaf("First_Name", name.first)
        if name.middle:
            self.leaf("Middle_Name", name.middle)
        self.leaf("Last_Name", name.last)
        out.append("</wd:Name_Detail_Data></wd:Name_Data>")
        self.contact_data(contact.contact)
        out.append("</wd:Business_Entity_Contact_Personal_Data>")
        if contact.external_ids:
            out.append("<wd:External_ID_Data>")
            for external_id in contact.external_ids:
                self.leaf("ID", external_id)
            out.append("</wd:External_ID_Data>")
        out.append("</wd:Business_Entity_Contact_Data></wd:Business_Entity_Contact>")


def _clone(source: etree._Element, parent: etree._Element) -> None:
    """Copy a request element into the response under the ``wd`` prefix, whatever prefix the client used."""
    el = etree.SubElement(parent, source.tag, dict(source.attrib))
    el.text = source.text
    for child in source:
        if isinstance(child.tag, str):
            _clone(child, el)


def _echo(response: etree._Element, element: etree._Element | None, name: str) -> None:
    if element is None:
        return
    if etree.QName(element).localname != name:
        raise ValueError(f"expected a wd:{name} element, got {element.tag}")
    _clone(element, response)


def render_response(
    operation: str,
    records: Sequence[Customer | Supplier | Contact],
    results: PageResults,
    *,
    version: str,
    response_filter: ResponseFilter,
    request_criteria: etree._Element | None = None,
    include_descriptors: bool = True,
    request_references: etree._Element | None = None,
    response_group: etree._Element | None = None,
) -> bytes:
    """One page of a ``Get_Customers`` / ``Get_Suppliers`` / ``Get_Business_Entity_Contacts`` response.

    The request's ``Request_References`` / ``Request_Criteria`` / ``Response_Group`` elements are echoed
    when given, as Workday does; ``Response_Data`` is left out when the page is empty.
    """
    if operation not in OPERATION_RECORD:
        raise KeyError(f"unknown operation {operation!r}")
    envelope = etree.Element(_ENV + "Envelope", nsmap={"env": SOAP_ENV_NS})
    body = etree.SubElement(envelope, _ENV + "Body")
    response = etree.SubElement(body, f"{_W}{operation}_Response", nsmap={"wd": WD_NS})
    response.set(_W + "version", version)
    _echo(response, request_references, "Request_References")
    _echo(response, request_criteria, "Request_Criteria")
    filter_el = _sub(response, "Response_Filter")
    _sub(filter_el, "As_Of_Effective_Date", response_filter.as_of_effective_date.isoformat())
    _sub(filter_el, "As_Of_Entry_DateTime", format_datetime(response_filter.as_of_entry_datetime))
    _sub(filter_el, "Page", str(response_filter.page))
    _sub(filter_el, "Count", str(response_filter.count))
    _echo(response, response_group, "Response_Group")
    results_el = _sub(response, "Response_Results")
    _sub(results_el, "Total_Results", str(results.total_results))
    _sub(results_el, "Total_Pages", str(results.total_pages))
    _sub(results_el, "Page_Results", str(results.page_results))
    _sub(results_el, "Page", str(results.page))
    page = bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))
    if not records:
        return page
    writer = _Writer(include_descriptors)
    expected = OPERATION_RECORD[operation]
    for record in records:
        if expected == "Customer" and isinstance(record, Customer):
            writer.customer(record)
        elif expected == "Supplier" and isinstance(record, Supplier):
            writer.supplier(record)
        elif expected == "Business_Entity_Contact" and isinstance(record, Contact):
            writer.contact(record)
        else:
            raise TypeError(f"{operation} cannot render a {type(record).__name__}")
    close = f"</wd:{operation}_Response>".encode()
    cut = page.rindex(close)
    data = "".join(["<wd:Response_Data>", *writer.parts, "</wd:Response_Data>"]).encode()
    return page[:cut] + data + page[cut:]


FaultKind = Literal["validation", "authentication", "processing"]

_FAULT_CODES: dict[str, str] = {
    "validation": "SOAP-ENV:Client.validationError",
    "authentication": "SOAP-ENV:Client.authenticationError",
    "processing": "SOAP-ENV:Server.processingError",
}


def render_fault(
    kind: FaultKind,
    message: str,
    *,
    errors: Sequence[tuple[str, str, str]] = (),
    detail: str | None = None,
) -> bytes:
    """A Workday SOAP fault (sent with HTTP 500).

    ``validation``: faultstring ``Validation error occurred. <message>`` and one ``Validation_Error`` per
    ``(message, detail_message, xpath)`` in ``errors`` (one built from ``message`` when none are given).
    ``authentication``: faultstring ``message`` as is (Workday says ``invalid username or password``), no
    detail. ``processing``: ``Processing error occurred. <message>`` with ``Processing_Fault/Detail_Message``
    set to ``detail`` (default ``message``).
    """
    envelope = etree.Element(_ENV + "Envelope", nsmap={"SOAP-ENV": SOAP_ENV_NS})
    body = etree.SubElement(envelope, _ENV + "Body")
    fault = etree.SubElement(body, _ENV + "Fault", nsmap={"SOAP-ENV": SOAP_ENV_NS, "wd": WD_NS})
    etree.SubElement(fault, "faultcode").text = _FAULT_CODES[kind]
    if kind == "validation":
        etree.SubElement(fault, "faultstring").text = f"Validation error occurred. {message}"
        detail_el = etree.SubElement(fault, "detail")
        validation = _sub(detail_el, "Validation_Fault")
        for error_message, detail_message, xpath in errors or ((message, detail or message, ""),):
            error = _sub(validation, "Validation_Error")
            _sub(error, "Message", error_message)
            _sub(error, "Detail_Message", detail_message)
            if xpath:
                _sub(error, "Xpath", xpath)
    elif kind == "processing":
        etree.SubElement(fault, "faultstring").text = f"Processing error occurred. {message}"
        detail_el = etree.SubElement(fault, "detail")
        processing = _sub(detail_el, "Processing_Fault")
        _sub(processing, "Detail_Message", detail or message)
    elif kind == "authentication":
        etree.SubElement(fault, "faultstring").text = message
    else:  # pragma: no cover - guarded by the Literal type
        raise ValueError(f"unknown fault kind {kind!r}")
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))
