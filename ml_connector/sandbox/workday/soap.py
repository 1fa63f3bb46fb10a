"""Workday Web Services (SOAP 1.1) for the three Get operations a customer/supplier sync needs.

``POST /ccx/service/{tenant}/{Revenue_Management|Resource_Management}/{version}`` and ``GET ...?wsdl``.
A request goes through the checks in Workday's order: service and version, well-formed envelope,
authentication (WS-Security UsernameToken ``user@tenant`` with PasswordText, or an OAuth Bearer),
operation belongs to the service, schema validation, then the semantic checks the schema cannot
express (Page not zero, Count 1-999, reference IDs that exist). Every failure is a SOAP fault with
HTTP 500, as Workday sends them.

Paging follows the WSDL annotations: Count defaults to 100, Page to 1, ``As_Of_Entry_DateTime`` to
now and is echoed back so a client can pin it; a page past the end is empty with correct totals.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ml_connector.sandbox.workday import soap_xml, wsdl
from ml_connector.sandbox.workday.records import Reference, Supplier
from ml_connector.sandbox.workday.soap_xml import FaultKind
from ml_connector.sandbox.workday.store import Version
from ml_connector.sandbox.workday.tenant import Tenant

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WD = "urn:com.workday/bsvc"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TEXT_SUFFIX = "#PasswordText"
XML_TYPE = "text/xml; charset=utf-8"

SERVICES = ("Revenue_Management", "Resource_Management")
MIN_VERSION, MAX_VERSION = 30, 47  # major versions a current tenant answers; v48+ is refused
DEFAULT_COUNT, MAX_COUNT = 100, 999
INVALID_SERVICE = "The web service or version is invalid for the requested operation"
AUTH_FAILED = "invalid username or password"
NOT_AUTHORIZED = "Processing error occurred. The task submitted is not authorized."
THROTTLED = (
    "The request was rejected because the tenant is processing too many requests. Please try again later."
)

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
_VERSION = re.compile(r"^v(\d+)\.(\d+)$")

# Which store table each operation reads, and the element names of its references.
_KIND = {"Get_Customers": "customer", "Get_Suppliers": "supplier", "Get_Business_Entity_Contacts": "contact"}
_REFERENCE = {
    "Get_Customers": "Customer_Reference",
    "Get_Suppliers": "Supplier_Reference",
    "Get_Business_Entity_Contacts": "Business_Entity_Contact_Reference",
}


class SoapFault(Exception):
    """A fault to answer with; ``errors`` are (message, detail message, xpath) triples."""

    def __init__(self, kind: FaultKind, message: str, errors: Sequence[tuple[str, str, str]] = ()) -> None:
        super().__init__(message)
        self.kind: FaultKind = kind
        self.message = message
        self.errors = tuple(errors)


def fault_response(kind: FaultKind, message: str, errors: Sequence[tuple[str, str, str]] = ()) -> Response:
    body = soap_xml.render_fault(kind, message, errors=errors)
    return Response(body, status_code=500, media_type=XML_TYPE)


def throttled_response() -> Response:
    """SOAP under load: HTTP 500 with a ``Server.processingError`` fault.

    Workday documents only the status (500, "can sometimes be caused by too many requests"), not the
    body; a processing fault is what its SOAP gateway sends for other server-side refusals, and it is
    the case a client must not confuse with a validation or authentication fault (those never heal).
    """
    return fault_response("processing", THROTTLED)


def auth_fault_response() -> Response:
    return fault_response("authentication", AUTH_FAILED)


def version_ok(version: str) -> bool:
    match = _VERSION.match(version)
    return match is not None and MIN_VERSION <= int(match.group(1)) <= MAX_VERSION


# -- routes ---------------------------------------------------------------------------------------------
async def endpoint(request: Request) -> Response:
    """Both services' endpoint; the service is the path segment after the tenant."""
    tenant: Tenant = request.app.state.tenant
    params = request.path_params
    service: str = params.get("service") or request.url.path.split("/")[4]
    version: str = params["version"]
    if params["tenant"] != tenant.name:
        return auth_fault_response()
    if service not in SERVICES or not version_ok(version):
        return fault_response("validation", INVALID_SERVICE)
    if request.method == "GET":
        if "wsdl" not in request.query_params:
            return fault_response(
                "validation", "Invalid request: use POST for operations or ?wsdl for the WSDL"
            )
        location = str(request.url.replace(query=""))
        return Response(wsdl.render_wsdl(service, location), media_type=XML_TYPE)
    if not tenant.throttle.allow():
        return throttled_response()
    body = await request.body()
    authorization = request.headers.get("authorization")
    denied: Callable[[str], bool] = request.app.state.control.denied
    return await run_in_threadpool(handle, tenant, service, version, authorization, body, denied)


def handle(
    tenant: Tenant,
    service: str,
    version: str,
    authorization: str | None,
    body: bytes,
    denied: Callable[[str], bool] = lambda operation: False,
) -> Response:
    try:
        operation, request_el, header = _unwrap(body)
        _authenticate(tenant, authorization, header)
        if wsdl.OPERATION_SERVICE.get(operation) != service or operation not in _KIND:
            raise SoapFault("validation", INVALID_SERVICE)
        if denied(operation):  # the API client's security groups lack this operation's domain
            raise SoapFault("processing", NOT_AUTHORIZED)
        errors = wsdl.validate_element(request_el)
        if errors:
            raise SoapFault(
                "validation", errors[0][0], [(message, message, xpath) for message, xpath in errors]
            )
        return _answer(tenant, operation, request_el, header, version)
    except SoapFault as fault:
        return fault_response(fault.kind, fault.message, fault.errors)


# -- envelope and authentication -----------------------------------------------------------------------
def _unwrap(body: bytes) -> tuple[str, Any, Any]:
    """(operation, request element, SOAP Header or None) of a SOAP 1.1 envelope."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapFault(
            "validation", f"Invalid request: the message is not well-formed XML ({exc.msg})"
        ) from exc
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise SoapFault("validation", "Invalid request: expected a SOAP 1.1 Envelope")
    body_el = root.find(f"{{{SOAP_ENV}}}Body")
    children = [] if body_el is None else [c for c in body_el if isinstance(c.tag, str)]
    if len(children) != 1:
        raise SoapFault("validation", "Invalid request: the SOAP Body must hold exactly one request element")
    request_el = children[0]
    qname = etree.QName(request_el)
    if qname.namespace != WD or not qname.localname.endswith("_Request"):
        raise SoapFault("validation", INVALID_SERVICE)
    return qname.localname.removesuffix("_Request"), request_el, root.find(f"{{{SOAP_ENV}}}Header")


def _authenticate(tenant: Tenant, authorization: str | None, header: Any) -> None:
    state = tenant.bearer_state(authorization)
    if state == "valid":
        return
    if state != "absent":
        raise SoapFault("authentication", AUTH_FAILED)
    token = None if header is None else header.find(f"{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
    if token is None:
        raise SoapFault("authentication", AUTH_FAILED)
    password = token.find(f"{{{WSSE}}}Password")
    password_type = "" if password is None else password.get("Type", PASSWORD_TEXT_SUFFIX)
    if not password_type.endswith(PASSWORD_TEXT_SUFFIX):
        raise SoapFault("authentication", AUTH_FAILED)
    username = token.findtext(f"{{{WSSE}}}Username")
    secret = None if password is None else password.text
    if not tenant.isu_ok(
        (username or "").strip(), (secret or "").strip() or None, tenant_suffix_required=True
    ):
        raise SoapFault("authentication", AUTH_FAILED)


# -- request parameters ---------------------------------------------------------------------------------
def xpath_of(el: Any) -> str:
    """Workday's error Xpath form: ``/wd:Get_Customers_Request[1]/wd:Response_Filter[1]/wd:Page[1]``."""
    steps: list[str] = []
    while el is not None and etree.QName(el).namespace == WD:
        parent = el.getparent()
        index = 1 if parent is None else [s for s in parent if s.tag == el.tag].index(el) + 1
        steps.append(f"wd:{etree.QName(el).localname}[{index}]")
        el = parent
    return "/" + "/".join(reversed(steps))


def _wd(el: Any, path: str) -> Any:
    return el.find("/".join(f"{{{WD}}}{step}" for step in path.split("/")))


def _wd_all(el: Any, path: str) -> list[Any]:
    return list(el.iterfind("/".join(f"{{{WD}}}{step}" for step in path.split("/"))))


def _datetime(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # naive: read as UTC


def _whole(el: Any, name: str, low: int, high: int | None, zero_message: str | None) -> int | None:
    """An integer Response_Filter field, with Workday's range checks."""
    child = _wd(el, name) if el is not None else None
    if child is None or not (child.text or "").strip():
        return None
    try:
        value = Decimal(child.text.strip())
    except InvalidOperation as exc:
        raise SoapFault(
            "validation", f"Invalid {name} value", [(f"Invalid {name} value", "", xpath_of(child))]
        ) from exc
    if value == 0 and zero_message:
        raise SoapFault("validation", zero_message, [(zero_message, zero_message, xpath_of(child))])
    if value != value.to_integral_value() or value < low or (high is not None and value > high):
        message = (
            f"{name} must be a whole number between {low} and {high}."
            if high is not None
            else f"{name} must be a whole number of at least {low}."
        )
        raise SoapFault("validation", message, [(message, f"{name}: {value}", xpath_of(child))])
    return int(value)


@dataclass(frozen=True)
class _Paging:
    effective: date
    as_of: datetime
    page: int
    count: int


def _paging(request_el: Any, now: datetime) -> _Paging:
    flt = _wd(request_el, "Response_Filter")
    as_of, effective = now, now.date()
    if flt is not None:
        entry = _wd(flt, "As_Of_Entry_DateTime")
        if entry is not None and (entry.text or "").strip():
            as_of = _datetime(entry.text)
        eff = _wd(flt, "As_Of_Effective_Date")
        if eff is not None and (eff.text or "").strip():
            effective = date.fromisoformat(eff.text.strip()[:10])
    page = _whole(flt, "Page", 1, None, "Page Number cannot be zero.")
    count = _whole(flt, "Count", 1, MAX_COUNT, None)
    return _Paging(effective, as_of, page or 1, count or DEFAULT_COUNT)


def _include_descriptors(header: Any) -> bool:
    """``Workday_Common_Header/Include_Reference_Descriptors_In_Response``; off unless asked for."""
    if header is None:
        return False
    flag = header.findtext(f"{{{WD}}}Workday_Common_Header/{{{WD}}}Include_Reference_Descriptors_In_Response")
    return (flag or "").strip().lower() in ("1", "true")


def _invalid_id(id_el: Any) -> tuple[str, str, str]:
    value, id_type = (id_el.text or "").strip(), id_el.get(f"{{{WD}}}type", "")
    message = f"Invalid ID value.  '{value}' is not a valid ID value for type = '{id_type}'"
    return message, message, xpath_of(id_el)


def _resolve_records(tenant: Tenant, kind: str, refs: list[Any], as_of: datetime) -> list[Version[Any]]:
    """Records named in Request_References, in request order; unknown IDs fault unless skipping is asked."""
    found: dict[str, Version[Any]] = {}
    errors: list[tuple[str, str, str]] = []
    skip = False
    if refs:
        skip = (refs[0].getparent().get(f"{{{WD}}}Skip_Non_Existing_Instances") or "").lower() in (
            "1",
            "true",
        )
    for ref in refs:
        for id_el in _wd_all(ref, "ID"):
            version = tenant.store.find(
                kind, id_el.get(f"{{{WD}}}type", ""), (id_el.text or "").strip(), as_of
            )
            if version is not None:
                found.setdefault(version.record.reference.wid, version)
                break
        else:
            if not skip:
                errors.extend(_invalid_id(i) for i in _wd_all(ref, "ID")[:1])
    if errors:
        raise SoapFault("validation", errors[0][0], errors)
    return list(found.values())


def _resolve_setup(refs: list[Any], choices: Sequence[Reference]) -> set[str]:
    """WIDs of setup values (status, category, group) named in criteria; unknown IDs fault."""
    index = {("WID", r.wid): r.wid for r in choices}
    index.update({pair: r.wid for r in choices for pair in r.ids})
    wids: set[str] = set()
    errors: list[tuple[str, str, str]] = []
    for ref in refs:
        ids = _wd_all(ref, "ID")
        hit = next(
            (index[k] for i in ids if (k := (i.get(f"{{{WD}}}type", ""), (i.text or "").strip())) in index),
            None,
        )
        if hit is None:
            errors.extend(_invalid_id(i) for i in ids[:1])
        else:
            wids.add(hit)
    if errors:
        raise SoapFault("validation", errors[0][0], errors)
    return wids


# -- operations -----------------------------------------------------------------------------------------
def _select(tenant: Tenant, operation: str, request_el: Any, as_of: datetime) -> list[Version[Any]]:
    kind = _KIND[operation]
    refs = _wd_all(request_el, f"Request_References/{_REFERENCE[operation]}")
    if refs:
        return _resolve_records(tenant, kind, refs, as_of)
    criteria = _wd(request_el, "Request_Criteria")
    store = tenant.store
    if operation == "Get_Customers":
        rows = store.customers(as_of)
        if criteria is None:
            return rows
        events = _wd_all(criteria, "Event_Reference") + _wd_all(criteria, "Reporting_Transaction_Reference")
        if events:  # the sandbox keeps no transaction log: every event ID is unknown
            errors = [_invalid_id(i) for ref in events for i in _wd_all(ref, "ID")[:1]]
            raise SoapFault("validation", errors[0][0], errors)
        wanted = (criteria.findtext(f"{{{WD}}}Customer_Reference_ID") or "").strip()
        return [v for v in rows if v.record.customer_reference_id == wanted] if wanted else rows
    if operation == "Get_Suppliers":
        return _suppliers(tenant, criteria, as_of)
    return store.contacts(as_of)


def _suppliers(tenant: Tenant, criteria: Any, as_of: datetime) -> list[Version[Any]]:
    if criteria is None:
        return list(tenant.store.suppliers(as_of))
    start_text = criteria.findtext(f"{{{WD}}}Updated_From_Date")
    end_text = criteria.findtext(f"{{{WD}}}Updated_To_Date")
    start = _datetime(start_text) if start_text and start_text.strip() else None
    end = _datetime(end_text) if end_text and end_text.strip() else None
    cat = tenant.store.catalog
    statuses = _resolve_setup(_wd_all(criteria, "Supplier_Status_Reference"), list(cat.statuses.values()))
    categories = _resolve_setup(_wd_all(criteria, "Supplier_Category_Reference"), cat.supplier_categories)
    groups = _resolve_setup(_wd_all(criteria, "Supplier_Group_Reference"), cat.supplier_groups)
    parents = _wd_all(criteria, "Parent_Supplier_Reference")
    if parents:
        _resolve_records(tenant, "supplier", parents, as_of)  # validates; the sandbox has no hierarchies
        return []
    if any(
        (criteria.findtext(f"{{{WD}}}{n}") or "").strip() for n in ("Customer_Account_Number", "DUNS_Number")
    ):
        return []  # no sandbox supplier carries an account or DUNS number

    def keep(s: Supplier) -> bool:
        return (
            (not statuses or s.status.wid in statuses)
            and (not categories or s.category.wid in categories)
            and (not groups or any(g.wid in groups for g in s.groups))
        )

    return [v for v in tenant.store.suppliers(as_of, start, end) if keep(v.record)]


def _answer(tenant: Tenant, operation: str, request_el: Any, header: Any, version: str) -> Response:
    try:
        paging = _paging(request_el, tenant.store.now())
        selected = _select(tenant, operation, request_el, paging.as_of)
    except ValueError as exc:  # a date the schema let through but Python cannot read
        raise SoapFault("validation", f"Invalid date or time value: {exc}") from exc
    total = len(selected)
    start = (paging.page - 1) * paging.count
    page_rows = [v.record for v in selected[start : start + paging.count]]
    results = soap_xml.PageResults(
        total_results=total,
        total_pages=math.ceil(total / paging.count),
        page_results=len(page_rows),
        page=paging.page,
    )
    response_filter = soap_xml.ResponseFilter(
        as_of_effective_date=paging.effective,
        as_of_entry_datetime=paging.as_of,
        page=paging.page,
        count=paging.count,
    )
    body = soap_xml.render_response(
        operation,
        page_rows,
        results,
        version=version,
        response_filter=response_filter,
        request_criteria=_wd(request_el, "Request_Criteria"),
        include_descriptors=_include_descriptors(header),
        request_references=_wd(request_el, "Request_References"),
        response_group=_wd(request_el, "Response_Group"),
    )
    return Response(body, media_type=XML_TYPE)
