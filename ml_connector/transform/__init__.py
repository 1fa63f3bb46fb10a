"""Extracted Workday records -> the organizations and persons a sync wants in Pipedrive.

:func:`transform` is pure (no I/O, no clock): the same extraction, mapping and aliases always give
the same tables, row for row, sorted by key. A record that cannot be sent (no name, a malformed
email, an unknown option...) becomes one ``rejected`` row saying what to fix, and the run goes on.

Identity: an organization's key is the Customer_ID, or for a supplier its Customer_ID cross-link
when it has one, else the Supplier_ID, so a company that is both is one organization. Persons are
keyed by Contact_ID and attached through ``org_aliases`` (Supplier_ID -> organization key), which
the suppliers transform extends with every supplier it reads; the caller persists the returned map
so contacts of suppliers not extracted this run still resolve. The customers transform needs no
aliases (a contact's Customer_ID *is* the key) and returns the map unchanged.

Inactive records stay in the output with ``active=False`` and the status field's value
``Inactive``; whether to write that (``inactive_policy``) is the loader's decision. A person whose
organization is rejected in this run still goes out with its ``org_key``: the loader writes it once
that organization exists in Pipedrive.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from pydantic import ValidationError

from ml_connector.mapping import SyncMapping
from ml_connector.models.workday import WorkdayContact, WorkdayCustomer, WorkdaySupplier
from ml_connector.staging.canonical import canonical_json
from ml_connector.transform.values import map_values
from ml_connector.transform.views import (
    Organization,
    clean,
    organization_key,
    organization_view,
    person_view,
    source_ids,
)
from ml_connector.vocabulary import ENTITIES, EntitySpec, RecordKind

log = logging.getLogger(__name__)

ORGANIZATIONS_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("name", pa.string()),
        ("values", pa.string()),
        ("content_hash", pa.string()),
        ("active", pa.bool_()),
        ("source_ids", pa.string()),
    ]
)
PERSONS_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("org_key", pa.string()),
        ("name", pa.string()),
        ("values", pa.string()),
        ("content_hash", pa.string()),
        ("active", pa.bool_()),
    ]
)
REJECTED_SCHEMA = pa.schema(
    [
        ("entity", pa.string()),
        ("key", pa.string()),
        ("field", pa.string()),
        ("reason", pa.string()),
        ("source_ids", pa.string()),
    ]
)


@dataclass(frozen=True)
class TransformResult:
    organizations: pa.Table  # staging step transformed_organizations
    persons: pa.Table  # transformed_persons
    rejected: pa.Table  # rejected
    org_aliases: dict[str, str]  # persist for the next run (state/<entity>/org_aliases.json)


def content_hash(name: str, values: dict[str, Any]) -> str:
    """What the loader compares with the last pushed state: a change of any mapped value changes it."""
    return hashlib.sha256(canonical_json({"name": name, "values": values}).encode("utf-8")).hexdigest()


@dataclass
class _Rejections:
    rows: list[dict[str, str]] = field(default_factory=list)

    def add(
        self, entity: RecordKind, key: str, problems: list[tuple[str, str]], record: str, ids: str
    ) -> None:
        """One row per record (so counts are per record): every failing field, every fix."""
        fields = ",".join(dict.fromkeys(f for f, _ in problems))
        reasons = " ".join(f"{entity.capitalize()} {key} ({record}): {reason}." for _, reason in problems)
        self.rows.append(
            {"entity": entity, "key": key, "field": fields, "reason": reasons, "source_ids": ids}
        )


def transform(
    mapping: SyncMapping, organizations: pa.Table, contacts: pa.Table, org_aliases: dict[str, str]
) -> TransformResult:
    """Rebuild the extracted records, map and validate them; see the module docstring for the rules.

    ``organizations`` and ``contacts`` are the extract step's tables (``record_key``, ``payload``,
    ``kind``); ``org_aliases`` the map persisted by the previous run (empty on the first).
    """
    rejected = _Rejections()
    spec = ENTITIES[mapping.entity]
    aliases = dict(org_aliases)
    orgs = _organizations(organizations, spec.noun, rejected, aliases if spec.keys_by_alias else None)

    org_rows = []
    for key in sorted(orgs):
        record = orgs[key]
        ids = source_ids(record)
        values, problems = map_values(mapping.organization, organization_view(record), spec.noun)
        if problems:
            rejected.add("organization", key, problems, f"{spec.noun} {record.workday_id}", ids)
            continue
        name = str(values.get("name"))
        org_rows.append(
            {
                "key": key,
                "name": name,
                "values": canonical_json(values),
                "content_hash": content_hash(name, values),
                "active": record.active is not False,
                "source_ids": ids,
            }
        )

    person_rows = _persons(mapping, contacts, orgs, aliases, rejected)
    rejected.rows.sort(key=lambda r: (r["entity"], r["key"]))
    log.info(
        "transform %s: %d organizations, %d persons, %d rejected",
        mapping.entity,
        len(org_rows),
        len(person_rows),
        len(rejected.rows),
    )
    return TransformResult(
        organizations=pa.Table.from_pylist(org_rows, schema=ORGANIZATIONS_SCHEMA),
        persons=pa.Table.from_pylist(person_rows, schema=PERSONS_SCHEMA),
        rejected=pa.Table.from_pylist(rejected.rows, schema=REJECTED_SCHEMA),
        org_aliases=dict(sorted(aliases.items())),
    )


def _rows(table: pa.Table) -> Iterator[tuple[str, str, str]]:
    columns = [table.column(name).to_pylist() for name in ("record_key", "payload", "kind")]
    yield from zip(*columns, strict=True)


def _unreadable(exc: ValidationError | ValueError) -> str:
    """Which attributes failed, without their values (they may be personal data)."""
    if isinstance(exc, ValidationError):
        where = sorted({".".join(map(str, e["loc"])) or "record" for e in exc.errors()})
        return f"its extracted payload could not be read ({'; '.join(where)}); re-run the extract task"
    return "its extracted payload could not be read; re-run the extract task"


def _organizations(
    table: pa.Table, noun: str, rejected: _Rejections, aliases: dict[str, str] | None
) -> dict[str, Organization]:
    """Records by organization key; a key seen twice keeps the last record and is logged. Every record
    read (also one that loses to a later duplicate) adds its own ID -> key to ``aliases`` if given."""
    model: type[WorkdayCustomer] | type[WorkdaySupplier] = (
        WorkdayCustomer if noun == "customer" else WorkdaySupplier
    )
    out: dict[str, Organization] = {}
    seen: Counter[str] = Counter()
    for record_key, payload, kind in _rows(table):
        key = record_key or ""
        if kind != noun:
            problem = ("kind", f"it was extracted as {kind!r}, not as a {noun}; re-run the extract task")
            rejected.add("organization", key, [problem], f"{kind} {key}", key)
            continue
        try:
            record = model.model_validate_json(payload)
        except (ValidationError, ValueError) as exc:
            rejected.add("organization", key, [("payload", _unreadable(exc))], f"{noun} {key}", key)
            continue
        org_key = organization_key(record)
        if not org_key:
            problem = ("Workday ID", f"it has no Workday ID; check the {noun} in Workday")
            rejected.add("organization", key, [problem], f"{noun} {key}", key)
            continue
        seen[org_key] += 1
        out[org_key] = record
        if aliases is not None:
            aliases[record.workday_id.strip()] = org_key
    for org_key, count in sorted(seen.items()):
        if count > 1:
            log.warning(
                "organization %s came %d times in one extraction; keeping the last one read (%s)",
                org_key,
                count,
                source_ids(out[org_key]),
            )
    return out


def _persons(
    mapping: SyncMapping,
    table: pa.Table,
    orgs: dict[str, Organization],
    aliases: dict[str, str],
    rejected: _Rejections,
) -> list[dict[str, Any]]:
    spec = ENTITIES[mapping.entity]
    contacts = _contacts(table, spec, orgs, rejected)
    rows = []
    for key in sorted(contacts):
        contact, org_key = contacts[key]
        parent = _parent(contact)
        if spec.keys_by_alias and contact.supplier_id:
            org_key = aliases.get(contact.supplier_id.strip()) or clean(contact.customer_id)
        values, problems = map_values(mapping.person, person_view(contact, org_key), "contact")
        if org_key is None:
            problems.append(
                (
                    "organization",
                    f"its organization is unknown: {parent} was not read in this or an earlier run; "
                    "check that it exists in Workday and is within the sync, then re-run",
                )
            )
        if problems:
            rejected.add("person", key, problems, f"contact of {parent}", key)
            continue
        name = str(values.get("name"))
        rows.append(
            {
                "key": key,
                "org_key": org_key,
                "name": name,
                "values": canonical_json(values),
                "content_hash": content_hash(name, values),
                "active": True,
            }
        )
    return rows


def _parent(contact: WorkdayContact) -> str:
    if clean(contact.supplier_id) and not clean(contact.customer_id):
        return f"supplier {clean(contact.supplier_id)}"
    if clean(contact.customer_id):
        return f"customer {clean(contact.customer_id)}"
    return f"the Workday record with WID {contact.parent_wid}" if contact.parent_wid else "no Workday record"


def with_unreadable(rejected: pa.Table, unreadable: list[dict[str, str]]) -> pa.Table:
    """Records the extract could not read (``{"kind", "key", "reason"}``) join the rejects, with their reason."""
    if not unreadable:
        return rejected
    rows = [
        {
            "entity": item["kind"],
            "key": item["key"],
            "field": "",
            "reason": f"Workday record {item['key']} could not be read ({item['reason']}); fix it in Workday",
            "source_ids": item["key"],
        }
        for item in unreadable
    ]
    return pa.concat_tables([rejected, pa.Table.from_pylist(rows, schema=rejected.schema)])


def _contacts(
    table: pa.Table, spec: EntitySpec, orgs: dict[str, Organization], rejected: _Rejections
) -> dict[str, tuple[WorkdayContact, str | None]]:
    """The contacts this sync owns, by Contact_ID, with the organization key known so far.

    Ownership is :meth:`EntitySpec.contact_ownership`. A contact referenced only by its parent's WID is
    taken by the sync that read that parent in this run; one that neither sync can place is left out
    and counted in the log, since rejecting it here would reject it twice, once per sync.
    """
    by_wid = {record.wid: key for key, record in orgs.items() if record.wid}
    out: dict[str, tuple[WorkdayContact, str | None]] = {}
    seen: Counter[str] = Counter()
    skipped = 0
    for record_key, payload, kind in _rows(table):
        key = record_key or ""
        if kind != "contact":
            problem = ("kind", f"it was extracted as {kind!r}, not as a contact; re-run the extract task")
            rejected.add("person", key, [problem], f"{kind} {key}", key)
            continue
        try:
            contact = WorkdayContact.model_validate_json(payload)
        except (ValidationError, ValueError) as exc:
            rejected.add("person", key, [("payload", _unreadable(exc))], f"contact {key}", key)
            continue
        person_key = clean(contact.contact_id)
        ownership = spec.contact_ownership(contact.customer_id, contact.supplier_id)
        org_key: str | None
        if ownership != "other" and not spec.keys_by_alias and contact.parent_wid in by_wid:
            # the parent read in this run, under whatever key it has (a REST customer's is its WID)
            org_key = by_wid[contact.parent_wid]
        elif ownership == "own":
            # suppliers: resolved through the aliases, since a dual company is keyed by its Customer_ID
            org_key = None if spec.keys_by_alias else clean(contact.customer_id)
        else:
            skipped += 1
            continue
        if not person_key:
            problem = ("Workday contact ID", "it has no Contact_ID; check the contact in Workday")
            rejected.add("person", key, [problem], f"contact {key}", key)
            continue
        seen[person_key] += 1
        out[person_key] = (contact, org_key)
    for person_key, count in sorted(seen.items()):
        if count > 1:
            log.warning(
                "contact %s came %d times in one extraction; keeping the last one read", person_key, count
            )
    if skipped:
        log.info("%d contacts belong to the other sync or to no record read here; left out", skipped)
    return out
