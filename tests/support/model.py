"""An independent model of what Pipedrive must hold once both sync DAGs have completed a sync.

Written from the documented rules (README "The sync", the comments of ``include/mappings/*.yaml``) and
from the Workday sandbox's own records, never from ml-connector's transform or load code, so that it can
catch their bugs. Two calls make the API::

    model = expected(sandbox)              # what Workday says Pipedrive must hold, now
    problems = divergences(sandbox, model)  # [] when Pipedrive holds exactly that

The rules the model applies:

- **One organization per company**, keyed (custom field ``Workday ID``) by the Customer_ID, or for a
  supplier by its Customer_ID cross-link when it is also a customer, else its Supplier_ID. A company that
  is both is one organization with both roles and the fields of both mapping files.
- **Values** are what the mapping files promise, per field ``source``: ``name`` (stripped), ``primary_address``
  (the primary address's formatted lines on one line, joined by ``", "``), ``org_key``, ``workday_id`` (the
  Supplier_ID in the suppliers file), ``roles`` (Customer/Supplier), ``category``/``payment_terms`` (the
  reference's descriptor), ``currency`` (ISO code), ``region_code``/``country_code`` of the primary address,
  ``worktags.<TYPE>`` (the worktag's descriptor), ``status`` (Active/Inactive: a deactivated record is
  updated, never deleted). A field mapped by one file only is empty on an organization that is not of that
  entity. Shared fields (name, address, region, country) come from both records of a dual company; where
  Workday's customer and supplier records disagree, whichever sync wrote last wins, so either value is right.
- **One person per contact** (custom field ``Workday contact ID``), linked (``org_id``) to the organization
  of its customer, or of its supplier (that is, the dual company's organization). Values: ``name`` (Workday's
  formatted name: title, first, middle, last), ``first_name``, ``last_name``, ``emails`` and ``phones``
  (every one Workday holds, the primary first and the only primary; a phone is labelled ``mobile`` when
  Workday's device type says so, else ``work``).
- **Rejected records** (README: no name, a malformed email, text too long; and a record whose characters
  XML cannot carry, which Workday cannot deliver): the product never writes them, so Pipedrive holds either
  nothing or the last version that was valid. The model marks them ``rejected`` with the reason; they may be
  absent, and if present their values are not compared (only their uniqueness and, for persons, their link
  and that they carry no malformed email). A person whose organization is rejected and absent may be absent.
- Anything else in Pipedrive carrying a Workday ID the model does not know, or no Workday ID at all, is extra.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml

from ml_connector.sandbox.runtime import RunningSandbox
from support.sandbox import PipedriveApi

MAPPINGS_DIR = Path(__file__).resolve().parents[2] / "include" / "mappings"
ENTITIES = ("customers", "suppliers")
# Pipedrive takes at most this many characters in a name and in a varchar field (README: "text too long").
MAX_TEXT = 255
# Far enough ahead that the store's snapshot is the newest version of every record.
_LATEST = datetime(9999, 1, 1, tzinfo=UTC)
# One "@", a local part and a domain of at least two non-empty labels, no whitespace (README: malformed email).
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
# Characters XML 1.0 cannot carry: a SOAP page holding one cannot be parsed (the record is unreadable).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

Kind = Literal["organization", "person"]
Value = Hashable  # a normalised field value: str, a tuple of labels, a ContactPoints, or None (empty)


@dataclass(frozen=True)
class ContactPoints:
    """Emails or phones as compared: the primary's value, and every (value, label) pair."""

    primary: str
    entries: frozenset[tuple[str, str]]


@dataclass(frozen=True)
class Expected:
    """One record Pipedrive must hold: acceptable values per field (by the field's name in Pipedrive).

    ``rejected`` says why the product must not write this record (it may be absent, or hold the last valid
    version); ``org_key`` is a person's organization.
    """

    kind: Kind
    key: str
    values: Mapping[str, frozenset[Value]]
    org_key: str | None = None
    rejected: str | None = None
    sources: str = ""  # e.g. "customer CUS-000001, supplier SUP-000004": for messages


@dataclass
class Model:
    """What Pipedrive must hold: organizations and persons by Workday key, and the custom key fields."""

    organizations: dict[str, Expected] = field(default_factory=dict)
    persons: dict[str, Expected] = field(default_factory=dict)
    org_key_field: str = "Workday ID"
    person_key_field: str = "Workday contact ID"

    def rejected(self) -> list[Expected]:
        """Every record the product must reject, with its reason."""
        return [e for e in (*self.organizations.values(), *self.persons.values()) if e.rejected]

    def counts(self) -> dict[str, int]:
        return {
            "organizations": len(self.organizations),
            "persons": len(self.persons),
            "rejected": len(self.rejected()),
        }


# -- the mapping files, read as plain YAML ---------------------------------------------------------------
@dataclass(frozen=True)
class _Field:
    name: str
    source: str
    type: str | None  # None: a standard field
    match_key: bool


def _mapping(directory: Path, entity: str) -> dict[str, Any]:
    return dict(yaml.safe_load((directory / f"{entity}.yaml").read_text(encoding="utf-8")))


def _fields(doc: Mapping[str, Any], kind: str) -> list[_Field]:
    return [
        _Field(
            name=str(f["name"]),
            source=str(f["source"]),
            type=None if f.get("standard") else str(f["type"]),
            match_key=bool(f.get("match_key")),
        )
        for f in doc[kind]["fields"]
    ]


# -- Workday's records, as the model reads them ---------------------------------------------------------
def _text(value: str | None) -> str | None:
    stripped = (value or "").strip()
    return stripped or None


def _ref_id(ref: Any, id_type: str | None = None) -> str | None:
    for kind, value in ref.ids:
        if id_type is None or kind == id_type:
            return str(value)
    return None


def _primary(items: Iterable[Any]) -> Any:
    items = list(items)
    return next((i for i in items if i.usage.primary), items[0] if items else None)


def _one_line(address: Any) -> str | None:
    if address is None:
        return None
    lines = [line.strip() for line in address.formatted.splitlines()]
    return ", ".join(line for line in lines if line) or None


def _company_view(record: Any, noun: str) -> dict[str, Any]:
    """What the mapping's organization sources name, for one customer or supplier record."""
    address = _primary(record.entity.contact.addresses)
    if noun == "customer":
        customer_id, supplier_id = record.customer_id, record.supplier_id
        workday_id = record.customer_id
    else:
        customer_id, supplier_id = record.customer_id, record.supplier_id
        workday_id = record.supplier_id
    status = _ref_id(record.status) or ""
    view: dict[str, Any] = {
        "org_key": customer_id or supplier_id,
        "workday_id": workday_id,
        "customer_id": customer_id,
        "supplier_id": supplier_id,
        "name": _text(record.entity.name),
        "roles": tuple(sorted(r for r, v in (("Customer", customer_id), ("Supplier", supplier_id)) if v)),
        "category": _text(record.category.descriptor),
        "payment_terms": _text(record.payment_terms.descriptor),
        "currency": _ref_id(record.currency, "Currency_ID"),
        "status": status.replace("_", " ").capitalize() or None,
        "country_code": address.country_code if address else None,
        "region_code": address.region_code if address else None,
        "primary_address": _one_line(address),
    }
    for tag in record.worktags:
        view[f"worktags.{_ref_id(tag.worktag_type)}"] = _text(tag.value.descriptor)
    return view


def _points(items: Iterable[Any], value_of: Any, label_of: Any) -> ContactPoints | None:
    items = list(items)
    entries = [(v, label_of(i)) for i in items if (v := _text(value_of(i)))]
    if not entries:
        return None
    primary = _primary(items)
    first = _text(value_of(primary)) if primary is not None else None
    return ContactPoints(first or entries[0][0], frozenset(entries))


def _contact_view(contact: Any, org_key: str | None) -> dict[str, Any]:
    name = contact.name
    # Workday's Formatted_Name: title, first, middle and last name, as the tenant renders it.
    formatted = " ".join(p for p in (name.prefix, name.first, name.middle, name.last) if p)
    joined = " ".join(p for p in (_text(name.first), _text(name.last)) if p)
    return {
        "person_key": contact.contact_id,
        "contact_id": contact.contact_id,
        "org_key": org_key,
        "name": _text(formatted) or _text(joined),
        "first_name": _text(name.first),
        "last_name": _text(name.last),
        "emails": _points(contact.contact.emails, lambda e: e.address, lambda e: "work"),
        "phones": _points(
            contact.contact.phones,
            lambda p: p.formatted,
            lambda p: "mobile" if (p.device_type or "").strip().casefold() == "mobile" else "work",
        ),
        "_raw_emails": [e.address for e in contact.contact.emails],
        "_raw_names": [name.first, name.middle, name.last, name.prefix, formatted],
    }


def _is_email(value: str) -> bool:
    return len(value) <= 254 and _EMAIL.fullmatch(value) is not None


def _value(f: _Field, view: Mapping[str, Any]) -> tuple[Value, str | None]:
    """The normalised value of one mapped field, and why it makes the record rejected (or None)."""
    if f.source not in view and not f.source.startswith("worktags."):
        raise ValueError(f"the model does not know the mapping source {f.source!r} (field {f.name!r})")
    value = view.get(f.source)
    if isinstance(value, str):
        text_limited = f.type is None and f.name in ("name", "first_name", "last_name")
        if (text_limited or f.type in ("varchar", "varchar_auto", "phone")) and len(value) > MAX_TEXT:
            return value, f"{f.name} is {len(value)} characters long, over {MAX_TEXT}"
    if f.name == "name" and f.type is None and value is None:
        return None, "it has no name"
    if value == ():
        value = None
    return value, None


def _unreadable(texts: Iterable[str | None]) -> str | None:
    for text in texts:
        if text and _NOT_XML.search(text):
            return "a character XML 1.0 cannot carry makes it unreadable over SOAP"
    return None


# -- the model ------------------------------------------------------------------------------------------
def expected(sandbox: RunningSandbox, mappings_dir: Path = MAPPINGS_DIR) -> Model:
    """What Pipedrive must hold after both DAGs completed a sync of the Workday sandbox's current data."""
    store = sandbox.workday_app.state.tenant.store
    customers = [v.record for v in store.customers(_LATEST)]
    suppliers = [v.record for v in store.suppliers(_LATEST)]
    contacts = [v.record for v in store.contacts(_LATEST)]
    docs = {entity: _mapping(mappings_dir, entity) for entity in ENTITIES}
    org_fields = {entity: _fields(docs[entity], "organization") for entity in ENTITIES}
    person_fields = {entity: _fields(docs[entity], "person") for entity in ENTITIES}
    model = Model()
    for entity in ENTITIES:
        model.org_key_field = next(f.name for f in org_fields[entity] if f.match_key)
        model.person_key_field = next(f.name for f in person_fields[entity] if f.match_key)

    # every field name any mapping writes on an organization, so one side's fields are empty on the other
    all_org_fields = {f.name for entity in ENTITIES for f in org_fields[entity]}
    sides: dict[str, list[tuple[str, dict[str, Value], str | None, str]]] = defaultdict(list)
    for entity, noun, records in (("customers", "customer", customers), ("suppliers", "supplier", suppliers)):
        policy = docs[entity].get("inactive_policy", "update_status")
        for record in records:
            view = _company_view(record, noun)
            values: dict[str, Value] = {}
            reasons = []
            for f in org_fields[entity]:
                values[f.name], reason = _value(f, view)
                if reason:
                    reasons.append(reason)
            if bad := _unreadable([record.entity.name]):
                reasons.insert(0, bad)
            if view["status"] == "Inactive" and policy == "skip":
                reasons.append("inactive and inactive_policy is skip")
            label = f"{noun} {view['workday_id']}"
            sides[str(view["org_key"])].append((entity, values, "; ".join(reasons) or None, label))

    for key, parts in sides.items():
        acceptable: dict[str, set[Value]] = {name: set() for name in all_org_fields}
        for _entity, values, _reason, _label in parts:
            for name, value in values.items():
                acceptable[name].add(value)
        for options in acceptable.values():
            if not options:
                options.add(None)  # mapped only by the other entity's file: empty here
        reasons = [f"{label}: {reason}" for _e, _v, reason, label in parts if reason]
        model.organizations[key] = Expected(
            kind="organization",
            key=key,
            values={name: frozenset(options) for name, options in acceptable.items()},
            rejected="; ".join(reasons) or None,
            sources=", ".join(label for *_rest, label in parts),
        )

    supplier_org = {s.supplier_id: s.customer_id or s.supplier_id for s in suppliers}
    all_person_fields = {f.name for entity in ENTITIES for f in person_fields[entity]}
    for contact in contacts:
        if contact.customer_id:
            entity, org_key, parent = "customers", contact.customer_id, f"customer {contact.customer_id}"
        else:
            entity = "suppliers"
            org_key = supplier_org.get(contact.supplier_id or "")
            parent = f"supplier {contact.supplier_id}"
        view = _contact_view(contact, org_key)
        values = {}
        reasons = []
        for f in person_fields[entity]:
            values[f.name], reason = _value(f, view)
            if reason:
                reasons.append(reason)
        if any(not _is_email(e.strip()) for e in view["_raw_emails"] if e.strip()):
            reasons.append("a malformed email")
        if org_key is None or org_key not in model.organizations:
            reasons.append(f"its organization ({parent}) is not in Workday")
        if bad := _unreadable(view["_raw_names"]):
            reasons.insert(0, bad)
        for name in all_person_fields - set(values):
            values[name] = None
        model.persons[contact.contact_id] = Expected(
            kind="person",
            key=contact.contact_id,
            values={name: frozenset({value}) for name, value in values.items()},
            org_key=org_key,
            rejected="; ".join(reasons) or None,
            sources=f"contact {contact.contact_id} of {parent}",
        )
    return model


# -- what Pipedrive holds -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _FieldDef:
    code: str
    type: str
    labels: Mapping[Any, str]  # option id -> label


def _definitions(api: PipedriveApi, kind: str) -> dict[str, _FieldDef]:
    out = {}
    for f in api.fields(kind):
        labels = {o["id"]: o["label"] for o in f.get("options") or []}
        out[f["field_name"]] = _FieldDef(f["field_code"], f["field_type"], labels)
    return out


def _held(record: Mapping[str, Any], name: str, defs: Mapping[str, _FieldDef]) -> tuple[Value, str | None]:
    """The normalised value Pipedrive holds for the mapped field ``name``, and any malformation found."""
    if name == "address":
        address = record.get("address")
        value = address.get("value") if isinstance(address, Mapping) else address
        return (value or None), None
    if name in ("emails", "phones"):
        return _held_points(record.get(name) or [])
    if name in ("name", "first_name", "last_name"):
        return (record.get(name) or None), None
    definition = defs.get(name)
    if definition is None:
        return None, f"the field {name!r} does not exist in Pipedrive"
    raw = (record.get("custom_fields") or {}).get(definition.code)
    if raw in (None, "", []):
        return None, None
    if definition.type == "enum":
        return definition.labels.get(raw, f"<unknown option {raw}>"), None
    if definition.type == "set":
        items = raw if isinstance(raw, list) else [raw]
        return tuple(sorted(definition.labels.get(i, f"<unknown option {i}>") for i in items)), None
    return raw, None


def _held_points(entries: list[Mapping[str, Any]]) -> tuple[Value, str | None]:
    entries = [e for e in entries if e.get("value")]
    if not entries:
        return None, None
    primaries = [e for e in entries if e.get("primary")]
    problem = None
    if len(primaries) != 1 or not entries[0].get("primary"):
        problem = (
            f"{len(primaries)} primary entries, the first {'is' if entries[0].get('primary') else 'is not'}"
        )
    values = [str(e["value"]) for e in entries]
    if len({v.casefold() for v in values}) != len(values):
        problem = "the same value twice"
    pairs = frozenset((str(e["value"]), str(e.get("label") or "")) for e in entries)
    return ContactPoints(str(entries[0]["value"]), pairs), problem


def _show(value: Value) -> str:
    if isinstance(value, ContactPoints):
        return f"primary {value.primary!r}, all {sorted(value.entries)}"
    if isinstance(value, str) and any(unicodedata.category(c)[0] in "CMZ" and c != " " for c in value):
        return ascii(value)  # marks, controls and odd spaces made visible
    return repr(value)


def _by_key(
    records: list[dict[str, Any]], key_code: str, what: str, problems: list[str]
) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        key = (r.get("custom_fields") or {}).get(key_code)
        if not key:
            problems.append(f"extra {what} id {r['id']} ({r.get('name')!r}): it carries no Workday ID")
            continue
        found[str(key)].append(r)
    for key, group in sorted(found.items()):
        if len(group) > 1:
            problems.append(f"duplicate {what} {key}: Pipedrive ids {sorted(r['id'] for r in group)}")
    return found


def _compare(
    exp: Expected, record: Mapping[str, Any], defs: Mapping[str, _FieldDef], problems: list[str]
) -> None:
    for name, options in sorted(exp.values.items()):
        held, malformed = _held(record, name, defs)
        if malformed:
            problems.append(f"wrong value: {exp.kind} {exp.key} ({exp.sources}): {name}: {malformed}")
        if held not in options:
            want = " or ".join(sorted(_show(o) for o in options))
            problems.append(
                f"wrong value: {exp.kind} {exp.key} ({exp.sources}): {name} is {_show(held)}, "
                f"Workday says {want}"
            )


def divergences(sandbox: RunningSandbox, model: Model) -> list[str]:
    """Every way the Pipedrive sandbox differs from ``model``, one sentence each (``[]``: none).

    Kinds: missing (a record the model expects is absent), duplicate (two records with one Workday ID),
    extra (a Workday ID the model does not know, or none), wrong value (a field not among the values
    Workday allows), wrong link (a person's ``org_id`` is not its organization's id).
    """
    problems: list[str] = []
    with PipedriveApi(sandbox) as api:
        orgs, persons = api.records("organizations"), api.records("persons")
        org_defs, person_defs = _definitions(api, "organization"), _definitions(api, "person")
    if model.org_key_field not in org_defs:
        if orgs or any(not e.rejected for e in model.organizations.values()):
            problems.append(f"missing field: no organization field {model.org_key_field!r} in Pipedrive")
        return problems
    org_code = org_defs[model.org_key_field].code
    held_orgs = _by_key(orgs, org_code, "organization", problems)
    for key, exp in sorted(model.organizations.items()):
        group = held_orgs.get(key)
        if not group:
            if not exp.rejected:
                problems.append(f"missing organization {key} ({exp.sources})")
            continue
        if not exp.rejected:
            _compare(exp, group[0], org_defs, problems)
    for key in sorted(set(held_orgs) - set(model.organizations)):
        ids = [r["id"] for r in held_orgs[key]]
        problems.append(f"extra organization {key}: Pipedrive ids {ids}, Workday has no such company")

    org_id_of = {key: group[0]["id"] for key, group in held_orgs.items() if len(group) == 1}
    if model.person_key_field not in person_defs:
        if persons or any(not e.rejected for e in model.persons.values()):
            problems.append(f"missing field: no person field {model.person_key_field!r} in Pipedrive")
        return problems
    person_code = person_defs[model.person_key_field].code
    held_persons = _by_key(persons, person_code, "person", problems)
    for key, exp in sorted(model.persons.items()):
        group = held_persons.get(key)
        org_present = (exp.org_key or "") in held_orgs
        if not group:
            org_rejected = (e := model.organizations.get(exp.org_key or "")) is not None and e.rejected
            if not exp.rejected and not (org_rejected and not org_present):
                problems.append(f"missing person {key} ({exp.sources})")
            continue
        record = group[0]
        want_org = org_id_of.get(exp.org_key or "")
        if record.get("org_id") != want_org or want_org is None:
            problems.append(
                f"wrong link: person {key} ({exp.sources}) has org_id {record.get('org_id')}, its organization "
                f"{exp.org_key} is "
                + (f"Pipedrive id {want_org}" if want_org is not None else "not (once) in Pipedrive")
            )
        if exp.rejected:
            bad = [e["value"] for e in record.get("emails") or [] if not _is_email(str(e.get("value", "")))]
            if bad:
                problems.append(f"wrong value: rejected person {key} carries malformed emails {bad}")
            continue
        _compare(exp, record, person_defs, problems)
    for key in sorted(set(held_persons) - set(model.persons)):
        ids = [r["id"] for r in held_persons[key]]
        problems.append(f"extra person {key}: Pipedrive ids {ids}, Workday has no such contact")
    return problems
