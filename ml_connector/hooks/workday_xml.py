"""Reading Workday SOAP responses safely and fast: a hardened parser and local-name navigation.

Every body goes through one lxml parser that neither resolves entities, loads DTDs nor touches the
network, and a document holding a DOCTYPE or an entity declaration is refused outright, before libxml2
sees it (no Workday response has one; an XXE or billion-laughs payload does): the body is read whole,
whatever its length and in its own encoding, since a declaration injected past the root element is no
safer for being malformed. Elements are found by local name, ignoring namespaces, so a tenant whose WSDL
version adds, drops or re-namespaces elements still reads.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from lxml import etree

from ml_connector.http.errors import ApiError

WD_NS = "urn:com.workday/bsvc"
Element = Any  # lxml's _Element; lxml ships no usable stubs for it

# No entities resolved, no DTD loaded, no network: for both the strict and the lenient parser.
_HARDENED: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "remove_comments": True,
    "remove_pis": True,
}
_PARSER = etree.XMLParser(huge_tree=True, **_HARDENED)  # a 999-record page is ~8 MB, deeply nested
_REFUSED = (
    "response refused: it holds a DOCTYPE or another markup declaration (DTDs and entities are not accepted)"
)
_BOMS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xef\xbb\xbf", "utf-8"),
)


class UnsafeXml(ApiError):
    """The response holds a DTD or an entity declaration: refused without parsing it (XXE, entity expansion),
    and not read again: the same request gets the same answer."""


def _ascii_compatible(body: bytes) -> bytes:
    """The body in an encoding where ``<`` is the byte 0x3C: as it is (UTF-8, Latin-1 and the like), or
    re-encoded from the UTF-16/UTF-32 its BOM or byte pattern shows."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body if codec == "utf-8" else body[len(bom) :].decode(codec, errors="replace").encode()
    head = body[:4]
    if len(head) == 4 and head.count(0) == 3:  # UTF-32 without a BOM: one ASCII byte, three zeros
        return body.decode("utf-32-be" if head[0] == 0 else "utf-32-le", errors="replace").encode()
    if 0 in head[:2]:  # UTF-16 without a BOM: every ASCII character has a zero byte beside it
        return body.decode("utf-16-be" if head[0] == 0 else "utf-16-le", errors="replace").encode()
    return body


def declares_dtd(body: bytes) -> bool:
    """Whether the body holds a DOCTYPE or any other markup declaration (``<!ENTITY``, ``<!ELEMENT``...),
    wherever it stands: in the prolog, however far into the body, or inside the document, where libxml2
    would only call it malformed and the page would be read again and around. Comments and CDATA sections
    are skipped, and so are processing instructions in the prolog."""
    text = _ascii_compatible(body)
    at, prolog = 0, True
    while True:
        at = text.find(b"<" if prolog else b"<!", at)
        if at < 0:
            return False
        head = text[at : at + 9]
        if head.startswith((b"<!--", b"<![CDATA[")):
            close = b"-->" if head.startswith(b"<!--") else b"]]>"
            end = text.find(close, at + 4)
            if end < 0:
                return False
            at = end + 3
        elif prolog and head.startswith(b"<?"):
            end = text.find(b"?>", at + 2)
            if end < 0:
                return False
            at = end + 2
        elif head.startswith(b"<!"):
            return True
        else:  # the root element: from here on only a declaration can matter
            prolog = False
            at += 1


def parse(body: bytes, *, system: str = "workday") -> Element:
    """Parse one response body; raises :class:`UnsafeXml` or ``etree.XMLSyntaxError``."""
    if declares_dtd(body):
        raise UnsafeXml(system, _REFUSED)
    root = etree.fromstring(body, _PARSER)
    if root.getroottree().docinfo.doctype:  # belt and braces: the scan above should have refused it
        raise UnsafeXml(system, _REFUSED)
    return root


_LENIENT = etree.XMLParser(recover=True, **_HARDENED)


def parse_lenient(body: bytes, *, system: str = "workday") -> Element | None:
    """Parse what can be parsed of a body that is not well-formed (same refusals as :func:`parse`).

    Only for learning which record a broken response holds: its values are never used.
    """
    if declares_dtd(body):
        raise UnsafeXml(system, _REFUSED)
    return etree.fromstring(body, _LENIENT)


def local(el: Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag[tag.rfind("}") + 1 :]


def attr(el: Element, name: str) -> str | None:
    """An attribute by local name (``wd:type``, ``type`` and ``{urn:...}type`` alike)."""
    value = el.get(_wd(name))  # the usual case first: Workday's own namespace
    if value is None:
        value = el.get(name)
    if value is not None:
        return str(value)
    for key, other in el.attrib.items():
        if key.endswith("}" + name):
            return str(other)
    return None


def children(el: Element | None, name: str) -> Iterator[Element]:
    """Child elements named ``name`` in any (or no) namespace; lxml filters in C."""
    if el is None:
        return iter(())
    return el.iterchildren(_any_ns(name))  # type: ignore[no-any-return]


def child(el: Element | None, path: str) -> Element | None:
    """The first element at ``A/B/C`` (local names), or None."""
    for step in _steps(path):
        if el is None:
            return None
        el = next(el.iterchildren(step), None)
    return el


@functools.lru_cache(maxsize=1024)
def _any_ns(name: str) -> str:
    return "{*}" + name


@functools.lru_cache(maxsize=1024)
def _steps(path: str) -> tuple[str, ...]:
    return tuple(_any_ns(step) for step in path.split("/"))


@functools.lru_cache(maxsize=256)
def _wd(name: str) -> str:
    return f"{{{WD_NS}}}{name}"


def text(el: Element | None, path: str | None = None) -> str | None:
    """Stripped text at ``path`` (or of ``el``), None when absent or empty."""
    target = child(el, path) if path else el
    if target is None or target.text is None:
        return None
    value = str(target.text).strip()
    return value or None


def flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true")


def ids(ref: Element | None) -> dict[str, str]:
    """A ``*_Reference``'s IDs by type: ``{"WID": ..., "Customer_ID": ...}``."""
    found: dict[str, str] = {}
    for id_el in children(ref, "ID"):
        value = text(id_el)
        if value:
            found.setdefault(attr(id_el, "type") or "", value)
    return found


def body_payload(root: Element) -> Element | None:
    """The single element inside ``Envelope/Body`` (a ``*_Response`` or a ``Fault``)."""
    if local(root) != "Envelope":
        return None
    body = child(root, "Body")
    if body is None:
        return None
    return next((c for c in body if isinstance(c.tag, str)), None)
