"""The Workday sandbox's WSDL and the XML Schema every request and response is checked against.

Workday publishes one WSDL per service at ``/ccx/service/{tenant}/{Service}/{version}?wsdl``. The official
Revenue_Management and Resource_Management WSDLs are not public, so the types live in ``wsdl/bsvc_types.xsd``:
the shared types (``Response_Filter``, faults, ``Contact_Information_Data``, reference IDs ...) are copied
from a real Workday v30.0 WSDL with only their prose removed, and the operation types are written from the
element lists of those two services. The WSDL skeleton (messages, port type, binding, service) mirrors the
real one: document/literal SOAP 1.1, a ``Workday_Common_Header`` input header, and the two faults on every
operation, so a zeep client built for a tenant works unchanged against the sandbox.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from lxml import etree

WD_NS = "urn:com.workday/bsvc"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
SOAPBIND_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
SOAP_HTTP = "http://schemas.xmlsoap.org/soap/http"

TYPES_FILE = Path(__file__).with_name("wsdl") / "bsvc_types.xsd"

SERVICES: dict[str, tuple[str, ...]] = {
    "Revenue_Management": ("Get_Customers", "Get_Business_Entity_Contacts"),
    "Resource_Management": ("Get_Suppliers",),
}
OPERATION_SERVICE: dict[str, str] = {op: service for service, ops in SERVICES.items() for op in ops}

_XS = f"{{{XSD_NS}}}"
_WSDL = f"{{{WSDL_NS}}}"
_SB = f"{{{SOAPBIND_NS}}}"
_FAULTS = ("Validation_Fault", "Processing_Fault")
_VERSION_IN_URL = re.compile(r"/(v\d+(?:\.\d+)*)/?$")


@cache
def _types_tree() -> etree._Element:
    """The parsed ``bsvc_types.xsd`` root (read once; callers copy before changing it)."""
    parser = etree.XMLParser(remove_blank_text=True, huge_tree=True)
    return etree.parse(str(TYPES_FILE), parser).getroot()


@cache
def soap_schema() -> etree.XMLSchema:
    """All sandbox types as one compiled schema, for requests and responses of every operation."""
    return etree.XMLSchema(_types_tree())


def _wd_refs(node: etree._Element) -> set[str]:
    """Names of the ``wd:`` types, elements and attributes a schema component refers to."""
    found: set[str] = set()
    for sub in node.iter():
        for attr in ("type", "base", "ref"):
            value = sub.get(attr)
            if value and value.startswith("wd:"):
                found.add(value[3:])
    return found


def _service_schema(service: str) -> etree._Element:
    """The ``wd`` schema cut down to what one service's operations use, as a real per-service WSDL is."""
    full = _types_tree()
    components: dict[str, etree._Element] = {}
    elements: dict[str, etree._Element] = {}
    for child in full:
        if not isinstance(child.tag, str):
            continue
        name = child.get("name", "")
        if child.tag == _XS + "element":
            elements[name] = child
        else:
            components[name] = child
    roots = ["Workday_Common_Header", *_FAULTS]
    for op in SERVICES[service]:
        roots += [f"{op}_Request", f"{op}_Response"]
    keep: set[str] = set()
    todo: list[str] = [elements[r].get("type", "")[3:] for r in roots]
    while todo:
        name = todo.pop()
        if name in keep or name not in components:
            continue
        keep.add(name)
        todo.extend(_wd_refs(components[name]) - keep)
    schema = etree.Element(full.tag, dict(full.attrib), nsmap=full.nsmap)
    for child in full:
        if not isinstance(child.tag, str):
            continue
        name = child.get("name", "")
        if (child.tag == _XS + "element" and name in roots) or name in keep or name == "version":
            schema.append(copy.deepcopy(child))
    return schema


def render_wsdl(service: str, location: str) -> bytes:
    """The WSDL of one service, its ``soap:address`` pointing at ``location``.

    A trailing ``/vNN.N`` in ``location`` becomes the schema's ``wd:fixed`` version, as in a tenant's WSDL.
    """
    if service not in SERVICES:
        raise KeyError(f"unknown service {service!r}")
    return _render_wsdl(service, location)


@cache
def _render_wsdl(service: str, location: str) -> bytes:
    tns = f"{WD_NS}/{service}"
    nsmap = {
        "wsdl": WSDL_NS,
        "wd-wsdl": tns,
        "wd": WD_NS,
        "xsd": XSD_NS,
        "soapbind": SOAPBIND_NS,
    }
    root = etree.Element(_WSDL + "definitions", {"name": service, "targetNamespace": tns}, nsmap=nsmap)
    types = etree.SubElement(root, _WSDL + "types")
    schema = _service_schema(service)
    version = _VERSION_IN_URL.search(location)
    if version:
        for attr in schema.iterfind(_XS + "attribute[@name='version']"):
            attr.set(f"{{{WD_NS}}}fixed", version.group(1))
    types.append(schema)

    def message(name: str, part: str, element: str) -> None:
        msg = etree.SubElement(root, _WSDL + "message", name=name)
        etree.SubElement(msg, _WSDL + "part", name=part, element=f"wd:{element}")

    ops = SERVICES[service]
    message("Workday_Common_HeaderMsg", "header", "Workday_Common_Header")
    for op in ops:
        message(f"{op}_RequestInputMsg", "body", f"{op}_Request")
        message(f"{op}_ResponseOutputMsg", "body", f"{op}_Response")
    for fault in _FAULTS:
        message(f"{fault}Msg", "body", fault)

    port_type = etree.SubElement(root, _WSDL + "portType", name=f"{service}Port")
    for op in ops:
        operation = etree.SubElement(port_type, _WSDL + "operation", name=op)
        etree.SubElement(
            operation, _WSDL + "input", name=f"{op}Input", message=f"wd-wsdl:{op}_RequestInputMsg"
        )
        etree.SubElement(
            operation, _WSDL + "output", name=f"{op}Output", message=f"wd-wsdl:{op}_ResponseOutputMsg"
        )
        for fault in _FAULTS:
            etree.SubElement(operation, _WSDL + "fault", name=fault, message=f"wd-wsdl:{fault}Msg")

    binding = etree.SubElement(
        root, _WSDL + "binding", name=f"{service}Binding", type=f"wd-wsdl:{service}Port"
    )
    etree.SubElement(binding, _SB + "binding", style="document", transport=SOAP_HTTP)
    for op in ops:
        operation = etree.SubElement(binding, _WSDL + "operation", name=op)
        etree.SubElement(operation, _SB + "operation", style="document")
        body_in = etree.SubElement(operation, _WSDL + "input", name=f"{op}Input")
        etree.SubElement(body_in, _SB + "body", use="literal")
        etree.SubElement(
            body_in, _SB + "header", message="wd-wsdl:Workday_Common_HeaderMsg", part="header", use="literal"
        )
        body_out = etree.SubElement(operation, _WSDL + "output", name=f"{op}Output")
        etree.SubElement(body_out, _SB + "body", use="literal")
        for fault in reversed(_FAULTS):  # the real binding lists Processing_Fault first
            wsdl_fault = etree.SubElement(operation, _WSDL + "fault", name=fault)
            etree.SubElement(wsdl_fault, _SB + "fault", name=fault, use="literal")

    svc = etree.SubElement(root, _WSDL + "service", name=f"{service}Service")
    port = etree.SubElement(svc, _WSDL + "port", name=service, binding=f"wd-wsdl:{service}Binding")
    etree.SubElement(port, _SB + "address", location=location)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


@cache
def reference_id_types() -> dict[str, tuple[str, ...]]:
    """Allowed ``wd:type`` values per ``*ReferenceEnumeration`` (Workday lists them as appinfo, not facets)."""
    found: dict[str, tuple[str, ...]] = {}
    for simple in _types_tree().iterfind(_XS + "simpleType"):
        name = simple.get("name", "")
        if name.endswith("ReferenceEnumeration"):
            values = simple.xpath(".//wd:enumeration/@value", namespaces={"wd": WD_NS})
            found[name] = tuple(str(v) for v in values)
    return found


_STEP = re.compile(
    r"""^(?:
        \*\[local-name\(\)\s*=\s*'(?P<ln>[^']+)'[^\]]*\]   # *[local-name()='X' and namespace-uri()='...']
      | \{[^}]*\}(?P<clark>[^\[]+)                        # {ns}X
      | (?:[\w.-]+:)?(?P<qname>[\w.-]+)                   # wd:X or X
      | (?P<any>\*)                                       # *
    )(?:\[(?P<pos>\d+)\])?$""",
    re.VERBOSE,
)


def _split_path(path: str) -> list[str]:
    steps: list[str] = []
    depth = 0
    current = ""
    for char in path:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        if char == "/" and depth == 0:
            if current:
                steps.append(current)
            current = ""
        else:
            current += char
    if current:
        steps.append(current)
    return steps


def _resolve(root: etree._Element, path: str) -> etree._Element | None:
    """Follow a libxml2 error path (any of its spellings) from ``root`` to the element it names."""
    node: etree._Element | None = None
    for index, step in enumerate(_split_path(path)):
        match = _STEP.match(step)
        if match is None:
            return None
        local = match.group("ln") or match.group("clark") or match.group("qname")
        pos = int(match.group("pos") or 1)
        if index == 0:
            candidates: Iterable[etree._Element] = [root]
        else:
            assert node is not None
            candidates = [c for c in node if isinstance(c.tag, str)]
        if local is not None:
            candidates = [c for c in candidates if etree.QName(c).localname == local]
        listed = list(candidates)
        if len(listed) < pos:
            return None
        node = listed[pos - 1]
    return node


def workday_xpath(node: etree._Element, root: etree._Element | None = None) -> str:
    """``/wd:A[1]/wd:B[2]``: the path Workday puts in ``Validation_Error/Xpath``, from ``root`` down."""
    steps: list[str] = []
    current: etree._Element | None = node
    while current is not None:
        local = etree.QName(current).localname
        parent = current.getparent()
        position = 1
        if parent is not None and current is not root:
            position = 1 + sum(
                1
                for sibling in current.itersiblings(preceding=True)
                if isinstance(sibling.tag, str) and etree.QName(sibling).localname == local
            )
        steps.append(f"wd:{local}[{position}]")
        if current is root:
            break
        current = parent
    return "/" + "/".join(reversed(steps))


def _fallback_xpath(path: str) -> str:
    steps = []
    for step in _split_path(path):
        match = _STEP.match(step)
        local = None if match is None else (match.group("ln") or match.group("clark") or match.group("qname"))
        pos = "1" if match is None else (match.group("pos") or "1")
        steps.append(f"wd:{local or '*'}[{pos}]")
    return "/" + "/".join(steps)


def validate_element(el: etree._Element) -> list[tuple[str, str]]:
    """Schema errors of ``el`` (a request or response body element) as ``(message, xpath)`` pairs.

    Messages use the ``wd:`` prefix instead of ``{urn:com.workday/bsvc}``; the xpath is in Workday's
    form, ``/wd:Get_Customers_Request[1]/wd:Response_Filter[1]/wd:Count[1]``. Empty when valid.
    """
    schema = soap_schema()
    if schema.validate(el):
        return []
    errors: list[tuple[str, str]] = []
    for error in schema.error_log:
        message = error.message.replace(f"{{{WD_NS}}}", "wd:")
        path = error.path or ""
        node = _resolve(el, path) if path else None
        xpath = workday_xpath(node, el) if node is not None else _fallback_xpath(path)
        errors.append((message, xpath))
    return errors
