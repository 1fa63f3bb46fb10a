"""Extract: one run's window of Workday records of an entity, and the contacts this entity owns.

The records come from the hook's reader for the entity (SOAP, REST or RaaS, a page at a time) and are
kept as the JSON of their typed models, one row each, so the transform can be re-run on them without
calling Workday again. Contacts have no filter in Workday, so all of them are read and only those this
entity owns (:meth:`EntitySpec.contact_ownership`) are kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa
from pydantic import BaseModel

from ml_connector.models.workday import WorkdayContact
from ml_connector.vocabulary import ENTITIES, Entity, EntitySpec
from ml_connector.window import UpdateWindow

if TYPE_CHECKING:
    from ml_connector.hooks.workday import WorkdayHook

EXTRACT_SCHEMA = pa.schema([("record_key", pa.string()), ("payload", pa.string()), ("kind", pa.string())])


@dataclass(frozen=True)
class Extracted:
    """What one extract read: the entity's records, its contacts, and records that could not be read."""

    records: pa.Table
    contacts: pa.Table
    unreadable: list[dict[str, str]]  # {"kind", "key", "reason"}

    def meta(self, window: UpdateWindow) -> dict[str, Any]:
        """The run's ``extract.json``: the window read and what came of it."""
        return {
            "window": window.to_json(),
            "organizations": self.records.num_rows,
            "contacts": self.contacts.num_rows,
            "unreadable": self.unreadable,
        }


def extract(hook: WorkdayHook, entity: Entity, window: UpdateWindow) -> Extracted:
    """Read ``window`` of ``entity`` (``start=None``: everything) and the contacts it owns."""
    spec = ENTITIES[entity]
    pages = getattr(hook, spec.reader)(window.start, window.end)
    records = _table(_rows(pages, spec.noun, "workday_id"))
    contacts = cast(Iterable[list[WorkdayContact]], hook.iter_contacts())
    owned = _table(
        _rows(([c for c in page if _owned(spec, c)] for page in contacts), "contact", "contact_id")
    )
    unreadable = [{"kind": kind, "key": key, "reason": why} for kind, key, why in hook.skipped_records]
    return Extracted(records, owned, unreadable)


def _owned(spec: EntitySpec, contact: WorkdayContact) -> bool:
    """A contact of this entity, or one known only by its parent's WID (the transform places those)."""
    ownership = spec.contact_ownership(contact.customer_id, contact.supplier_id)
    return ownership == "own" or (ownership == "by_parent_wid" and bool(contact.parent_wid))


def _rows(pages: Iterable[list[Any]], kind: str, key_attr: str) -> Iterator[tuple[str, str, str]]:
    for page in pages:
        for record in cast(list[BaseModel], page):
            yield str(getattr(record, key_attr)), record.model_dump_json(), kind


def _table(rows: Iterable[tuple[str, str, str]]) -> pa.Table:
    keys, payloads, kinds = [], [], []
    for key, payload, kind in rows:
        keys.append(key)
        payloads.append(payload)
        kinds.append(kind)
    return pa.table({"record_key": keys, "payload": payloads, "kind": kinds}, schema=EXTRACT_SCHEMA)
