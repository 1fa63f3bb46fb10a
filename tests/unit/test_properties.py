"""Property-based tests (hypothesis) with adversarial input: the transform, the mapping check and the
Workday XML reader never crash or hang, and every record either comes out or is rejected with a reason."""

from __future__ import annotations

import copy
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pyarrow as pa
import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from ml_connector.errors import Remedy, remedy_of
from ml_connector.hooks import workday_records as records
from ml_connector.hooks import workday_xml as wx
from ml_connector.hooks.workday import SoapPage, WorkdayHook
from ml_connector.hooks.workday_errors import (
    InconsistentPage,
    SoapClassifier,
    UnreadablePage,
    WorkdayValidationError,
    read_page,
)
from ml_connector.http.errors import ApiError, CredentialRejected, TransientError
from ml_connector.mapping import MappingError, load_mapping, parse_mapping
from ml_connector.models.workday import WorkdayContact, WorkdayCustomer, WorkdayEmail
from ml_connector.sandbox.workday import soap_xml
from ml_connector.sandbox.workday.data import generate
from ml_connector.transform import transform

MAPPINGS = Path(__file__).resolve().parents[2] / "include" / "mappings"
CUSTOMERS = load_mapping(MAPPINGS / "customers.yaml")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Every class of character, control characters and lone surrogates included, and long strings.
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=300) | st.text(max_size=5000)
MAYBE = st.none() | TEXT
# Record keys arrive as XML text, so they hold no lone surrogate; everything else they may.
KEY = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


@st.composite
def customers(draw: st.DrawFn) -> list[WorkdayCustomer]:
    keys = draw(
        st.lists(st.sampled_from(["CUS-1", "CUS-2", "CUS-3", "CUS-1 ", ""]) | KEY, min_size=1, max_size=6)
    )
    return [
        WorkdayCustomer.model_construct(  # as extracted, unvalidated: the transform must cope
            workday_id=key,
            name=draw(MAYBE),
            currency=draw(MAYBE),
            status=draw(st.sampled_from(["ACTIVE", "INACTIVE", None, "X"])),
            emails=tuple(
                WorkdayEmail.model_construct(value=v, primary=True) for v in draw(st.lists(TEXT, max_size=2))
            ),
            addresses=(),
            worktags=draw(
                st.dictionaries(st.sampled_from(["INDUSTRY", "SEGMENT", "REGION"]), TEXT, max_size=3)
            ),
            source="soap",
            as_of="2026-11-01T00:00:00+00:00",
        )
        for key in keys
    ]


@st.composite
def contacts(draw: st.DrawFn) -> list[WorkdayContact]:
    return [
        WorkdayContact.model_construct(
            contact_id=draw(st.sampled_from(["CON-1", "CON-2", "CON-1"]) | KEY),
            first_name=draw(MAYBE),
            last_name=draw(MAYBE),
            formatted_name=draw(MAYBE),
            emails=tuple(
                WorkdayEmail.model_construct(value=v, primary=True) for v in draw(st.lists(TEXT, max_size=2))
            ),
            phones=(),
            customer_id=draw(st.sampled_from(["CUS-1", "CUS-2", None]) | KEY),
            supplier_id=None,
            parent_wid=None,
            primary_bill_to=False,
            source="soap",
            as_of="2026-11-01T00:00:00+00:00",
        )
        for _ in range(draw(st.integers(0, 4)))
    ]


def _table(records: list[Any], key: str, kind: str, garbage: list[str]) -> pa.Table:
    payloads = []
    for record in records:
        try:
            payloads.append(record.model_dump_json(warnings=False))
        except Exception:  # a value not even JSON can carry (a lone surrogate): what Workday sent as text
            payloads.append("{not json")
    payloads += garbage
    keys = [str(getattr(r, key)) for r in records] + [f"garbage-{i}" for i in range(len(garbage))]
    return pa.table({"record_key": keys, "payload": payloads, "kind": [kind] * len(keys)})


@SETTINGS
@given(
    customers(),
    contacts(),
    st.lists(st.sampled_from(["", "{}", "[1]", "null", '{"workday_id": 5}']), max_size=2),
)
def test_every_adversarial_record_comes_out_or_is_rejected_with_a_reason(
    orgs: list[WorkdayCustomer], people: list[WorkdayContact], garbage: list[str]
) -> None:
    org_table = _table(orgs, "workday_id", "customer", garbage)
    contact_table = _table(people, "contact_id", "contact", [])
    result = transform(CUSTOMERS, org_table, contact_table, {})
    rejected = result.rejected.to_pylist()
    assert all(r["reason"] and r["key"] is not None for r in rejected)
    out = {("organization", k) for k in result.organizations.column("key").to_pylist()}
    out |= {("person", k) for k in result.persons.column("key").to_pylist()}
    gone = {(r["entity"], r["key"]) for r in rejected}
    seen_orgs = {str(k).strip() for k in org_table.column("record_key").to_pylist()}
    # every organization key read is either written out or rejected (duplicates collapse into one)
    for key in seen_orgs:
        assert any(k == "organization" and str(v).strip() == key for k, v in out | gone) or not key
    for row in result.organizations.to_pylist():
        assert len(row["key"]) > 0


@SETTINGS
@given(st.data())
def test_a_mutated_mapping_is_accepted_or_refused_with_a_mapping_error(data: st.DataObject) -> None:
    raw = yaml.safe_load((MAPPINGS / "suppliers.yaml").read_text(encoding="utf-8"))
    mutated = copy.deepcopy(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        section = data.draw(st.sampled_from(["top", "organization", "person"]))
        fields = (
            (mutated.get(section) or {}).get("fields") if isinstance(mutated.get(section), dict) else None
        )
        if section == "top" or not isinstance(fields, list) or not fields:
            target = mutated
        else:
            target = data.draw(st.sampled_from(fields))
            if not isinstance(target, dict):
                continue
        key = data.draw(st.sampled_from(sorted(target)) | TEXT)
        target[key] = data.draw(
            st.none() | TEXT | st.integers(-(10**6), 10**6) | st.booleans() | st.lists(TEXT, max_size=3)
        )
    try:
        parse_mapping(mutated, "suppliers.yaml")
    except MappingError as exc:
        assert exc.problems and all(problem for _, problem in exc.problems)
        assert "suppliers.yaml" in str(exc)


ENVELOPE = (
    '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>'
    '<wd:Get_Customers_Response xmlns:wd="urn:com.workday/bsvc"><wd:Response_Data><wd:Customer>'
    "<wd:Customer_Data><wd:Customer_ID>CUS-1</wd:Customer_ID><wd:Customer_Name>{name}</wd:Customer_Name>"
    "</wd:Customer_Data></wd:Customer></wd:Response_Data></wd:Get_Customers_Response></env:Body></env:Envelope>"
)
DTDS = ['<!DOCTYPE x [<!ENTITY a "aaaa">]>', '<!DOCTYPE x SYSTEM "file:///etc/passwd">', '<!ENTITY e "x">']
ENCODINGS = ["utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32"]


@SETTINGS
@given(
    st.lists(st.sampled_from(["<!-- c -->", " ", "\n", "<?pi x?>", "<!--" + "p" * 5000 + "-->"]), max_size=4),
    st.sampled_from(DTDS),
    st.sampled_from(ENCODINGS),
    st.booleans(),
)
def test_a_dtd_anywhere_in_the_prolog_in_any_encoding_is_refused(
    padding: list[str], dtd: str, encoding: str, declared: bool
) -> None:
    head = f'<?xml version="1.0" encoding="{encoding.upper()}"?>' if declared else ""
    body = (head + "".join(padding) + dtd + ENVELOPE.format(name="&a;")).encode(encoding)
    with pytest.raises(wx.UnsafeXml):
        wx.parse(body)


@SETTINGS
@given(st.binary(max_size=2000) | TEXT.map(lambda t: ENVELOPE.format(name=t).encode("utf-8", "replace")))
def test_any_body_parses_or_fails_cleanly(body: bytes) -> None:
    """Malformed SOAP, wrong namespaces, missing elements, lone control characters: an element, or one
    of the two errors the classifier turns into a decision, never anything else."""
    try:
        root = wx.parse(body)
    except (wx.UnsafeXml, etree.XMLSyntaxError):
        return
    payload = wx.body_payload(root)
    if payload is not None:
        assert wx.text(payload, "Response_Results/Total_Pages") is None  # no results block: counted 0


# -- structure-aware: real SOAP pages from the sandbox's own renderer, mutated ------------------------------
WD_NS = "urn:com.workday/bsvc"
RECORD = "Customer"
OPERATION = "Get_Customers"
COUNTS = ("Total_Results", "Total_Pages", "Page_Results", "Page")
TENANT = generate(seed=11, customers=8, suppliers=0)
OTHER_NAMESPACES = ["urn:com.workday/bsvc/v47.0", "urn:example:not-workday", ""]
DECLARATIONS = [
    '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/hostname">]>',
    '<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
    '<!ENTITY xxe SYSTEM "file:///etc/hostname">',
    '<!DOCTYPE x SYSTEM "http://127.0.0.1:9/x.dtd">',
    '<!ENTITY % p SYSTEM "http://127.0.0.1:9/p">',
]
REFERENCES = ["&xxe;", "&b;", "&lol9;"]
CODECS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"]
# The errors a page of SOAP may end in, each a product error with its remedy.
DOCUMENTED = (
    wx.UnsafeXml,
    UnreadablePage,
    InconsistentPage,
    WorkdayValidationError,
    CredentialRejected,
    TransientError,
    ApiError,
)


@dataclass(frozen=True)
class Base:
    """One valid page as the sandbox renders it, and what it was asked for."""

    page: int
    count: int
    ids: tuple[str, ...]
    wids: tuple[str, ...]
    body: bytes


def _base(page: int, count: int, total: int) -> Base:
    chosen = TENANT.customers[(page - 1) * count : min(page * count, total)]
    as_of = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
    body = soap_xml.render_response(
        OPERATION,
        chosen,
        soap_xml.PageResults(total, -(-total // count), len(chosen), page),
        version="v45.2",
        response_filter=soap_xml.ResponseFilter(as_of.date(), as_of, page, count),
        include_descriptors=True,
    )
    return Base(
        page, count, tuple(c.customer_id for c in chosen), tuple(c.reference.wid for c in chosen), body
    )


# a full first page, a full middle page, a short last page, an empty result set
BASES = [_base(1, 3, 3), _base(2, 3, 8), _base(3, 3, 8), _base(1, 5, 0)]


class Hang(Exception):
    """An example ran past the guard: a hang, not a slow example."""


@contextmanager
def hang_guard(seconds: float = 20.0) -> Iterator[None]:
    """Fails an example that runs for ``seconds`` (far beyond any honest run): detects a hang only."""

    def alarm(signum: int, frame: object) -> None:
        raise Hang(f"an example ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def read(body: bytes, base: Base) -> tuple[list[WorkdayCustomer], list[tuple[str, str, str]]]:
    """A body through what the hook does with a page: classify, check the page, convert its records."""
    response = requests.Response()
    response.status_code, response._content = 200, body
    response.headers["Content-Type"] = "text/xml; charset=utf-8"
    classifier = SoapClassifier("workday_default", "oauth2_refresh_token")
    classifier(response)
    payload = wx.body_payload(classifier.envelope(response))
    answer = read_page(payload, OPERATION, RECORD, page=base.page, count=base.count)
    hook = WorkdayHook()
    as_of = datetime(2026, 11, 27, tzinfo=UTC)
    page = SoapPage(base.page, answer.total_pages, answer.total_results, as_of, answer.records)
    out = [c for batch in hook._soap_records(iter([page]), records.customer) for c in batch]
    return out, hook.skipped_records


def outcome(body: bytes, base: Base) -> tuple[list[WorkdayCustomer], list[tuple[str, str, str]]] | ApiError:
    """Records and the records set aside, or the documented error; anything else fails the test."""
    with hang_guard():
        try:
            return read(body, base)
        except DOCUMENTED as exc:
            assert type(exc) in DOCUMENTED, repr(exc)
            reason = exc.api_message.strip()
            assert reason and len(reason) > 10, repr(exc)  # says what is wrong, not just that it is
            assert remedy_of(exc) in (Remedy.PERSON, Remedy.RETRY)
            return exc


def assert_records_sound(result: tuple[list[WorkdayCustomer], list[tuple[str, str, str]]]) -> None:
    read_back, skipped = result
    assert all(c.workday_id and c.workday_id.strip() for c in read_back)
    assert len({c.workday_id for c in read_back}) == len(read_back)
    assert all(reason for _, _, reason in skipped)


SKELETON = {
    "Body",
    f"{OPERATION}_Response",
    "Response_Filter",
    "Response_Results",
    *COUNTS,
    "Count",
    "Response_Data",
    RECORD,
    f"{RECORD}_Reference",
    f"{RECORD}_Data",
    f"{RECORD}_ID",
}


def _elements(root: etree._Element) -> list[etree._Element]:
    return [el for el in root.iter() if isinstance(el.tag, str) and el is not root]


def _skeleton(root: etree._Element) -> list[etree._Element]:
    """The elements paging and record identity hang on (and a record reference's IDs)."""
    return [
        el
        for el in _elements(root)
        if etree.QName(el).localname in SKELETON
        or etree.QName(el.getparent()).localname == f"{RECORD}_Reference"
    ]


@st.composite
def mutated_tree(draw: st.DrawFn) -> tuple[Base, bytes]:
    """A real page with elements dropped, duplicated, reordered or moved to another namespace."""
    base = draw(st.sampled_from(BASES))
    root = etree.fromstring(base.body)
    for _ in range(draw(st.integers(1, 4))):
        elements = _skeleton(root) if draw(st.integers(0, 3)) else _elements(root)
        if not elements:  # everything inside the envelope is gone already
            break
        el = draw(st.sampled_from(elements))
        parent = el.getparent()
        action = draw(st.sampled_from(["drop", "duplicate", "reorder", "namespace", "results"]))
        if action == "drop" and parent is not None:
            parent.remove(el)
        elif action == "duplicate" and parent is not None:
            el.addnext(copy.deepcopy(el))
        elif action == "reorder" and len(el) > 1:
            children = list(el)
            for child in children:
                el.remove(child)
            for child in draw(st.permutations(children)):
                el.append(child)
        elif action == "namespace":
            ns = draw(st.sampled_from(OTHER_NAMESPACES))
            for target in [el, *(el.iter() if draw(st.booleans()) else [])]:
                if isinstance(target.tag, str):
                    target.tag = etree.QName(ns or None, etree.QName(target).localname).text
        elif action == "results":
            found = [r for r in _elements(root) if etree.QName(r).localname == "Response_Results"]
            if found:
                victim = draw(st.sampled_from([found[0], *found[0]]))
                victim.getparent().remove(victim)
    return base, etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@SETTINGS
@given(mutated_tree())
def test_a_mutated_real_page_gives_records_with_ids_or_a_documented_error(case: tuple[Base, bytes]) -> None:
    base, body = case
    result = outcome(body, base)
    if isinstance(result, ApiError):
        return
    assert_records_sound(result)
    read_back, skipped = result
    # a record whose Customer_ID is gone is known by its WID (the hook's fallback)
    assert {c.workday_id for c in read_back} <= set(base.ids) | set(base.wids)
    # what comes out is what the page said it holds: nothing silently dropped or doubled
    assert len(read_back) + len(skipped) == len(base.ids) or not base.ids


COUNT_VALUES = (
    st.integers(-(10**15), 10**15).map(str)
    | st.sampled_from(
        ["", " ", "three", "1e3", "NaN", "inf", "-0", "+2", "3.0", "3.5", "\u0663", "0x1", "1_0"]
    )
    | st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=8)  # what lxml can hold as text
)


@SETTINGS
@given(
    st.sampled_from(BASES),
    st.sampled_from(
        [("Response_Results", n) for n in COUNTS]
        + [("Response_Filter", "Page"), ("Response_Filter", "Count")]
    ),
    st.none() | COUNT_VALUES,
)
def test_a_page_whose_counts_are_changed_is_read_only_when_they_still_agree(
    base: Base, where: tuple[str, str], value: str | None
) -> None:
    """Non-numeric, negative, huge, missing or lying ``Total_Results``/``Total_Pages``/``Page_Results``/
    ``Page``: a whole number equal to the true one reads; anything not a whole number, and any other value of
    ``Total_Pages``, ``Page_Results``, ``Page`` or ``Count``, is refused naming it."""
    parent_name, name = where
    root = etree.fromstring(base.body)
    parent = next(p for p in root.iter() if etree.QName(p).localname == parent_name)
    target = next(c for c in parent if etree.QName(c).localname == name)
    original = int(str(target.text))
    if value is None:
        parent.remove(target)
    else:
        target.text = value
    result = outcome(etree.tostring(root), base)
    whole = None if value is None else re.fullmatch(r"\s*\+?([0-9]{1,12})(\.0*)?\s*", value)
    if value is None:
        if name in ("Total_Results", "Total_Pages"):  # the size of the result set is unknown
            assert isinstance(result, InconsistentPage) and name in str(result)
        else:  # an echo Workday may leave out
            assert not isinstance(result, ApiError)
    elif whole is None:
        assert isinstance(result, InconsistentPage), result
        assert f"{name} is" in str(result) and "not a whole number" in str(result)
    elif int(whole.group(1)) == original:
        assert not isinstance(result, ApiError), result
    elif name == "Total_Results":  # the one count that can lie consistently with the rest of one page
        assert not isinstance(result, ApiError) or "Total_Results" in str(result), result
    elif not (name == "Page" and not base.ids and int(whole.group(1)) == 0):  # empty set: page 0
        assert isinstance(result, InconsistentPage), result
        assert name in str(result)
    if not isinstance(result, ApiError):
        assert_records_sound(result)
        assert sorted(c.workday_id for c in result[0]) == sorted(base.ids)


def _outside_tags(text: str) -> list[int]:
    """Every index of ``text`` between markup: the prolog, between elements, inside text nodes."""
    out, inside = [], False
    for i, ch in enumerate(text):
        if ch == "<":
            inside = True
        if not inside:
            out.append(i)
        if ch == ">":
            inside = False
    return [*out, len(text)]


@SETTINGS
@given(
    st.sampled_from(BASES),
    st.sampled_from(CODECS),
    st.booleans(),
    st.sampled_from(["none", "declaration", "reference", "truncate"]),
    st.data(),
)
def test_a_real_page_in_any_encoding_with_entities_or_cut_anywhere(
    base: Base, codec: str, declared: bool, change: str, data: st.DataObject
) -> None:
    """UTF-8/16/32 with and without BOM: the page reads; an entity declaration injected anywhere (prolog,
    inside the envelope, inside a text node) is refused before parsing and not read again; an undeclared
    entity reference or a cut at any byte leaves the page unreadable, never silently short."""
    body = etree.tostring(etree.fromstring(base.body), encoding="unicode")
    label = codec.split("-")[0].upper() + "-" + codec.split("-")[1]
    text = (f'<?xml version="1.0" encoding="{label}"?>' if declared else "") + body
    if change in ("declaration", "reference"):
        at = data.draw(st.sampled_from(_outside_tags(text)), label="at")
        inject = data.draw(st.sampled_from(DECLARATIONS if change == "declaration" else REFERENCES))
        text = text[:at] + inject + text[at:]
    raw = text.encode(codec)
    if change == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1), label="cut")]
    unparsed = mock.patch.object(wx.etree, "fromstring", side_effect=AssertionError("parsed"))
    with unparsed if change == "declaration" else nullcontext():
        result = outcome(raw, base)
    if change == "declaration":
        assert isinstance(result, wx.UnsafeXml) and "DOCTYPE" in str(result)
        assert remedy_of(result) is Remedy.PERSON and not isinstance(result, UnreadablePage)  # not read again
        assert "/etc/hostname" not in str(result)
    elif change in ("reference", "truncate") or (codec in ("utf-16-le", "utf-16-be") and not declared):
        # undeclared entity, cut body, or UTF-16 with neither BOM nor declaration (XML 1.0 4.3.3)
        assert isinstance(result, UnreadablePage), result
    else:
        assert not isinstance(result, ApiError), result
        assert sorted(c.workday_id for c in result[0]) == sorted(base.ids)
