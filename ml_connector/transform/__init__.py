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
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ValidationError

from ml_connector.mapping import SyncMapping
from ml_connector.models.workday import WorkdayContact, WorkdayCustomer, WorkdaySupplier
from ml_connector.staging.canonical import canonical_json
from ml_connector.transform.values import map_values
from ml_connector.transform.views import (
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


# The working tables carry each candidate row with what decides between duplicates: a record read twice
# keeps the last one read (its row or its rejection), decided once every batch has been read.
_REJECTION = pa.field("rejection", pa.string())  # the rejected row as JSON, when mapping failed
_ORG_WORK_SCHEMA = ORGANIZATIONS_SCHEMA.append(pa.field("wid", pa.string())).append(_REJECTION)
_PERSON_WORK_SCHEMA = PERSONS_SCHEMA.append(_REJECTION)

# Rows taken at once when the candidates become the output.
SETTLE_ROWS = 20_000

Staged: TypeAlias = pa.Table | Iterable[pa.RecordBatch]
Sink: TypeAlias = Callable[[pa.Table], None]


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
        self.rows.append(rejection(entity, key, problems, record, ids))


def rejection(
    entity: RecordKind, key: str, problems: list[tuple[str, str]], record: str, ids: str
) -> dict[str, str]:
    """One row per record (so counts are per record): every failing field, every fix."""
    fields = ",".join(dict.fromkeys(f for f, _ in problems))
    reasons = " ".join(f"{entity.capitalize()} {key} ({record}): {reason}." for _, reason in problems)
    return {"entity": entity, "key": key, "field": fields, "reason": reasons, "source_ids": ids}


def transform(
    mapping: SyncMapping, organizations: Staged, contacts: Staged, org_aliases: dict[str, str]
) -> TransformResult:
    """Rebuild the extracted records, map and validate them; see the module docstring for the rules.

    ``organizations`` and ``contacts`` are the extract step's tables (``record_key``, ``payload``,
    ``kind``), whole or as a stream of record batches. ``org_aliases`` is the map persisted by the
    previous run (empty on the first). :func:`transform_into` is the same, streaming its output.
    """
    org_pieces: list[pa.Table] = []
    person_pieces: list[pa.Table] = []
    done = transform_into(
        mapping, organizations, contacts, org_aliases, org_pieces.append, person_pieces.append
    )
    return TransformResult(
        organizations=pa.concat_tables(org_pieces) if org_pieces else ORGANIZATIONS_SCHEMA.empty_table(),
        persons=pa.concat_tables(person_pieces) if person_pieces else PERSONS_SCHEMA.empty_table(),
        rejected=done.rejected,
        org_aliases=done.org_aliases,
    )


@dataclass(frozen=True)
class Transformed:
    """What :func:`transform_into` sent to its sinks, and what it kept."""

    organizations: int
    persons: int
    rejected: pa.Table
    org_aliases: dict[str, str]


def transform_into(
    mapping: SyncMapping,
    organizations: Staged,
    contacts: Staged,
    org_aliases: dict[str, str],
    organizations_out: Sink,
    persons_out: Sink,
) -> Transformed:
    """:func:`transform`, with the organization and person rows sent to the sinks a slice at a time, in
    key order, as they are settled. What is held at once is a batch of Workday JSON and the compact
    mapped rows of one kind: the organizations are out before the contacts are read."""
    rejected = _Rejections()
    spec = ENTITIES[mapping.entity]
    aliases = dict(org_aliases)
    org_work = _Candidates(_ORG_WORK_SCHEMA)
    for batch in _batches(organizations):
        org_work.extend(
            _organization_rows(mapping, batch, spec, rejected, aliases if spec.keys_by_alias else None)
        )
    org_count, by_wid = org_work.settle("organization", ORGANIZATIONS_SCHEMA, rejected, organizations_out)
    person_work = _Candidates(_PERSON_WORK_SCHEMA)
    skipped = 0
    for batch in _batches(contacts):
        rows, left_out = _person_rows(mapping, batch, spec, by_wid, aliases, rejected)
        person_work.extend(rows)
        skipped += left_out
    if skipped:
        log.info("%d contacts belong to the other sync or to no record read here; left out", skipped)
    person_count, _ = person_work.settle("contact", PERSONS_SCHEMA, rejected, persons_out)
    rejected.rows.sort(key=lambda r: (r["entity"], r["key"]))
    log.info(
        "transform %s: %d organizations, %d persons, %d rejected",
        mapping.entity,
        org_count,
        person_count,
        len(rejected.rows),
    )
    return Transformed(
        organizations=org_count,
        persons=person_count,
        rejected=pa.Table.from_pylist(rejected.rows, schema=REJECTED_SCHEMA),
        org_aliases=dict(sorted(aliases.items())),
    )


def _batches(staged: Staged) -> Iterable[pa.RecordBatch]:
    if isinstance(staged, pa.Table):
        return list[pa.RecordBatch](staged.to_batches())
    return staged


@dataclass
class _Candidates:
    """Candidate rows of one kind in read order, as compact Arrow tables (never Workday's JSON)."""

    schema: pa.Schema
    parts: list[pa.Table] = field(default_factory=list)

    def extend(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.parts.append(pa.Table.from_pylist(rows, schema=self.schema))

    def settle(
        self, noun: str, schema: pa.Schema, rejected: _Rejections, out: Sink
    ) -> tuple[int, dict[str, str]]:
        """One row per key, the last read, sent to ``out`` in key order, a slice at a time, as ``schema``;
        a chosen rejection joins ``rejected``. Returns how many rows were sent and the chosen keys by WID
        (organizations). A key read more than once is logged."""
        table = pa.concat_tables(self.parts) if self.parts else self.schema.empty_table()
        self.parts.clear()
        keys = table.column("key").to_pylist()
        last: dict[str, int] = {}
        seen: Counter[str] = Counter()
        for index, key in enumerate(keys):
            last[key] = index
            seen[key] += 1
        for key, count in sorted(seen.items()):
            if count > 1:
                log.warning(
                    "%s %s came %d times in one extraction; keeping the last one read", noun, key, count
                )
        order = [last[key] for key in sorted(last)]
        del keys, last, seen
        by_wid: dict[str, str] = {}
        if "wid" in table.column_names:
            wids, keys = table.column("wid").to_pylist(), table.column("key").to_pylist()
            by_wid = {wids[i]: keys[i] for i in order if wids[i]}
        sent = 0
        for start in range(0, len(order), SETTLE_ROWS):
            piece = table.take(pa.array(order[start : start + SETTLE_ROWS], type=pa.int64()))
            problems = piece.column("rejection")
            rejected.rows.extend(json.loads(text) for text in problems.drop_null().to_pylist())
            accepted = piece.filter(pc.is_null(problems)).select(schema.names)
            out(accepted)
            sent += accepted.num_rows
        return sent, by_wid


def _rows(batch: pa.RecordBatch) -> Iterator[tuple[str, str, str]]:
    columns = [batch.column(name).to_pylist() for name in ("record_key", "payload", "kind")]
    yield from zip(*columns, strict=True)


def _unreadable(exc: ValidationError | ValueError) -> str:
    """Which attributes failed, without their values (they may be personal data)."""
    if isinstance(exc, ValidationError):
        where = sorted({".".join(map(str, e["loc"])) or "record" for e in exc.errors()})
        return f"its extracted payload could not be read ({'; '.join(where)}); re-run the extract task"
    return "its extracted payload could not be read; re-run the extract task"


def _organization_rows(
    mapping: SyncMapping,
    batch: pa.RecordBatch,
    spec: EntitySpec,
    rejected: _Rejections,
    aliases: dict[str, str] | None,
) -> list[dict[str, Any]]:
    """Candidate organizations of one batch. Every record read (also one that loses to a later
    duplicate) adds its own ID -> key to ``aliases`` if given."""
    noun = spec.noun
    model: type[WorkdayCustomer] | type[WorkdaySupplier] = (
        WorkdayCustomer if noun == "customer" else WorkdaySupplier
    )
    out: list[dict[str, Any]] = []
    for record_key, payload, kind in _rows(batch):
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
        if aliases is not None:
            aliases[record.workday_id.strip()] = org_key
        ids = source_ids(record)
        values, problems = map_values(mapping.organization, organization_view(record), noun)
        row: dict[str, Any] = {"key": org_key, "wid": record.wid}
        if problems:
            row["rejection"] = json.dumps(
                rejection("organization", org_key, problems, f"{noun} {record.workday_id}", ids)
            )
        else:
            name = str(values.get("name"))
            row |= {
                "name": name,
                "values": canonical_json(values),
                "content_hash": content_hash(name, values),
                "active": record.active is not False,
                "source_ids": ids,
            }
        out.append(row)
    return out


def _person_rows(
    mapping: SyncMapping,
    batch: pa.RecordBatch,
    spec: EntitySpec,
    by_wid: dict[str, str],
    aliases: dict[str, str],
    rejected: _Rejections,
) -> tuple[list[dict[str, Any]], int]:
    """Candidate persons of one batch, and how many contacts it left out.

    Ownership is :meth:`EntitySpec.contact_ownership`. A contact referenced only by its parent's WID is
    taken by the sync that read that parent in this run (``by_wid``); one that neither sync can place
    is left out and counted, since rejecting it here would reject it twice, once per sync.
    """
    out: list[dict[str, Any]] = []
    skipped = 0
    for record_key, payload, kind in _rows(batch):
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
        out.append(_person_row(mapping, spec, contact, person_key, org_key, aliases))
    return out, skipped


def _person_row(
    mapping: SyncMapping,
    spec: EntitySpec,
    contact: WorkdayContact,
    key: str,
    org_key: str | None,
    aliases: dict[str, str],
) -> dict[str, Any]:
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
        return {
            "key": key,
            "rejection": json.dumps(rejection("person", key, problems, f"contact of {parent}", key)),
        }
    name = str(values.get("name"))
    return {
        "key": key,
        "org_key": org_key,
        "name": name,
        "values": canonical_json(values),
        "content_hash": content_hash(name, values),
        "active": True,
    }


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
