"""Property-based tests (hypothesis) with adversarial input: the transform, the mapping check and the
Workday XML reader never crash or hang, and every record either comes out or is rejected with a reason."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from ml_connector.hooks import workday_xml as wx
from ml_connector.mapping import MappingError, load_mapping, parse_mapping
from ml_connector.models.workday import WorkdayContact, WorkdayCustomer, WorkdayEmail
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
