"""The search index behind ``/api/v2/{organizations,persons}/search``, with an optional indexing lag.

Each write appends a snapshot of the record's searchable values that becomes visible ``lag_s``
seconds later; until then search keeps finding the previous snapshot (or nothing, for a new record).
A find-then-create upsert that runs faster than the index therefore creates duplicates, as it can
against the real, asynchronously indexed service.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ml_connector.sandbox.pipedrive.fields import SEARCHABLE_TYPES, EntityKind, FieldDef

SEARCH_FIELDS: dict[EntityKind, frozenset[str]] = {
    "organization": frozenset({"address", "custom_fields", "notes", "name"}),
    "person": frozenset({"custom_fields", "email", "notes", "phone", "name"}),
}


@dataclass(frozen=True)
class SearchDoc:
    id: int
    name: str
    address: str | None
    visible_to: int
    owner_id: int
    org_id: int | None
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    custom: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]


def search_doc(
    record_id: int, attrs: dict[str, Any], custom: dict[str, Any], fields: dict[str, FieldDef]
) -> SearchDoc:
    """The searchable values of a record as of now (custom values of searchable types, as text)."""
    address = attrs.get("address")
    values: list[tuple[str, str]] = []
    for key, value in custom.items():
        f = fields.get(key)
        if f is None or f.field_type not in SEARCHABLE_TYPES or value is None:
            continue
        if isinstance(value, dict):
            value = value.get("value")
        if value is not None:
            values.append((key, _text(value)))
    notes = attrs.get("notes")
    return SearchDoc(
        id=record_id,
        name=attrs.get("name") or "",
        address=address.get("value") if isinstance(address, dict) else None,
        visible_to=attrs.get("visible_to", 3),
        owner_id=attrs.get("owner_id", 1),
        org_id=attrs.get("org_id"),
        emails=tuple(e["value"] for e in attrs.get("emails") or []),
        phones=tuple(p["value"] for p in attrs.get("phones") or []),
        custom=tuple(values),
        notes=(notes,) if isinstance(notes, str) and notes else (),
    )


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class SearchIndex:
    """Timed snapshots per record; thread-safe."""

    def __init__(self, lag_s: float) -> None:
        self.lag_s = lag_s
        self._lock = threading.Lock()
        self._versions: dict[tuple[EntityKind, int], list[tuple[float, SearchDoc | None]]] = {}

    def put(self, kind: EntityKind, record_id: int, doc: SearchDoc | None, now: float) -> None:
        with self._lock:
            versions = self._versions.setdefault((kind, record_id), [])
            versions.append((now + self.lag_s, doc))

    def docs(self, kind: EntityKind, now: float) -> Iterator[SearchDoc]:
        """The snapshot of each record the index shows at ``now``."""
        with self._lock:
            entries = [(key, versions) for key, versions in self._versions.items() if key[0] == kind]
            current: list[SearchDoc] = []
            for _key, versions in entries:
                visible = [v for v in versions if v[0] <= now]
                if visible:
                    # Older snapshots can never show again: keep only the latest visible one.
                    del versions[: len(visible) - 1]
                    doc = visible[-1][1]
                    if doc is not None:
                        current.append(doc)
        yield from sorted(current, key=lambda d: d.id)


@dataclass(frozen=True)
class Hit:
    score: float
    doc: SearchDoc
    matched_custom: tuple[str, ...]


def _score(term: str, value: str, exact: bool) -> float:
    """Case-insensitive: whole value for ``exact_match``, else the term at the start of a word."""
    v = value.casefold()
    if exact:
        return 1.0 if v == term else 0.0
    if v == term:
        return 1.0
    if v.startswith(term):
        return 0.8
    if re.search(r"(?<!\w)" + re.escape(term), v):
        return 0.5
    return 0.0


def match(
    doc: SearchDoc, kind: EntityKind, term: str, fields: frozenset[str], exact: bool, custom_keys: set[str]
) -> Hit | None:
    """Score ``doc`` against ``term`` in the chosen ``fields``; ``custom_keys`` are the live custom fields."""
    term = term.strip().casefold()
    candidates: list[str] = []
    if "name" in fields:
        candidates.append(doc.name)
    if kind == "organization" and "address" in fields and doc.address:
        candidates.append(doc.address)
    if "email" in fields:
        candidates.extend(doc.emails)
    if "phone" in fields:
        candidates.extend(doc.phones)
    if "notes" in fields:
        candidates.extend(doc.notes)
    best = max((_score(term, c, exact) for c in candidates), default=0.0)
    matched: list[str] = []
    if "custom_fields" in fields:
        for key, value in doc.custom:
            if key not in custom_keys:
                continue
            score = _score(term, value, exact)
            if score:
                matched.append(value)
                best = max(best, score)
    return Hit(best, doc, tuple(matched)) if best else None


def item(hit: Hit, kind: EntityKind, organization: dict[str, Any] | None) -> dict[str, Any]:
    """One search result in the spec's item shape (custom fields as matched values, not a map)."""
    d = hit.doc
    body: dict[str, Any] = {"id": d.id, "type": kind, "name": d.name}
    if kind == "organization":
        body["address"] = d.address
    else:
        body.update(phones=list(d.phones), emails=list(d.emails))
    body.update(visible_to=d.visible_to, owner={"id": d.owner_id})
    if kind == "person":
        body["organization"] = organization
    body.update(custom_fields=list(hit.matched_custom), notes=list(d.notes))
    return {"result_score": round(hit.score, 5), "item": body}
