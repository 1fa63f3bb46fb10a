"""Extract: one run's window of Workday records of an entity, and the contacts this entity owns.

The records come from the hook's reader for the entity (SOAP, REST or RaaS, a page at a time) and are
kept as the JSON of their typed models, one row each, so the transform can be re-run on them without
calling Workday again. They stream to Parquet row groups as they come: nothing holds the whole tenant. Contacts have no filter in Workday, so all of them are read and only those this
entity owns (:meth:`EntitySpec.contact_ownership`) are kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from ml_connector.models.workday import WorkdayContact
from ml_connector.vocabulary import ENTITIES, Entity, EntitySpec
from ml_connector.window import UpdateWindow

if TYPE_CHECKING:
    from ml_connector.hooks.workday import WorkdayHook
    from ml_connector.staging.files import RunFiles

EXTRACT_SCHEMA = pa.schema([("record_key", pa.string()), ("payload", pa.string()), ("kind", pa.string())])
# Rows buffered before they go to the file as one row group: a few pages, a few MB.
ROW_GROUP_ROWS = 5_000


@dataclass(frozen=True)
class Extracted:
    """What one extract read: how many records and contacts it staged, and records that could not be read."""

    records: int
    contacts: int
    unreadable: list[dict[str, str]]  # {"kind", "key", "reason"}

    def meta(self, window: UpdateWindow) -> dict[str, Any]:
        """The run's ``extract.json``: the window read and what came of it."""
        return {
            "window": window.to_json(),
            "organizations": self.records,
            "contacts": self.contacts,
            "unreadable": self.unreadable,
        }


def extract(hook: WorkdayHook, entity: Entity, window: UpdateWindow, files: RunFiles) -> Extracted:
    """Stage ``window`` of ``entity`` (``start=None``: everything) and the contacts it owns.

    Pages go to the run's ``extracted_*`` files as they arrive, so memory holds a few pages whatever
    the tenant's size; each file appears only once complete.
    """
    spec = ENTITIES[entity]
    pages = getattr(hook, spec.reader)(window.start, window.end)
    with files.table_writer("extracted_organizations", EXTRACT_SCHEMA) as out:
        records = _stage(_rows(pages, spec.noun, "workday_id"), out)
    contacts = cast(Iterable[list[WorkdayContact]], hook.iter_contacts())
    owned = ([c for c in page if _owned(spec, c)] for page in contacts)
    with files.table_writer("extracted_contacts", EXTRACT_SCHEMA) as out:
        staged_contacts = _stage(_rows(owned, "contact", "contact_id"), out)
    unreadable = [{"kind": kind, "key": key, "reason": why} for kind, key, why in hook.skipped_records]
    return Extracted(records, staged_contacts, unreadable)


def _owned(spec: EntitySpec, contact: WorkdayContact) -> bool:
    """A contact of this entity, or one known only by its parent's WID (the transform places those)."""
    ownership = spec.contact_ownership(contact.customer_id, contact.supplier_id)
    return ownership == "own" or (ownership == "by_parent_wid" and bool(contact.parent_wid))


def _rows(pages: Iterable[list[Any]], kind: str, key_attr: str) -> Iterator[tuple[str, str, str]]:
    for page in pages:
        for record in cast(list[BaseModel], page):
            yield str(getattr(record, key_attr)), record.model_dump_json(), kind


def _stage(rows: Iterable[tuple[str, str, str]], out: pq.ParquetWriter) -> int:
    """Write ``rows`` in row groups of :data:`ROW_GROUP_ROWS`; returns how many were written."""
    written = 0
    source = iter(rows)
    while group := list(islice(source, ROW_GROUP_ROWS)):
        keys, payloads, kinds = zip(*group, strict=True)
        out.write_table(
            pa.table({"record_key": keys, "payload": payloads, "kind": kinds}, schema=EXTRACT_SCHEMA)
        )
        written += len(group)
    return written
