"""Who is who in Pipedrive: the Workday key -> Pipedrive id map, rebuilt by listing, never by search.

Search is served from an index that lags behind writes, so "not found by search" is no proof that a
record is absent; creating on that basis makes duplicates. Listing every record with the Workday-ID
field (cursor paging, 10 tokens per 500 records) is exact, so the map is repaired from a listing when
it may be incomplete. Two records carrying one Workday ID are a conflict: neither is written to until
a person resolves it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ml_connector.fields import ResolvedFields
from ml_connector.load.plan import ORG_ID, Known
from ml_connector.pipedrive_limits import MAX_CUSTOM_FIELD_KEYS
from ml_connector.vocabulary import RecordKind


class RecordPages(Protocol):
    """What a listing needs of the Pipedrive hook: its paged list call."""

    def iter_pages(
        self,
        entity: RecordKind,
        *,
        updated_since: datetime | None = None,
        custom_fields: Sequence[str] | None = None,
    ) -> Iterator[list[dict[str, Any]]]: ...


@dataclass
class Listing:
    """What a listing found: unique keys, conflicting keys, and the values the records hold."""

    identity: dict[str, int] = field(default_factory=dict)
    conflicts: dict[str, list[int]] = field(default_factory=dict)
    known: dict[str, Known] = field(default_factory=dict)
    pages: int = 0


def listing_keys(resolved: ResolvedFields, kind: RecordKind) -> list[str]:
    """The Workday-ID key first, then as many other mapped custom keys as one listing may ask for."""
    match = resolved.match_field(kind).key
    others = [f.key for f in resolved.fields(kind) if not f.standard and not f.pending and f.key != match]
    return [match, *others][:MAX_CUSTOM_FIELD_KEYS]


def list_identity(
    hook: RecordPages, resolved: ResolvedFields, kind: RecordKind, *, updated_since: datetime | None = None
) -> Listing:
    """Every live record of ``kind`` that carries a Workday ID (changed since ``updated_since``, when
    given), grouped by that ID."""
    match = resolved.match_field(kind)
    listing = Listing()
    if match.pending:  # the field does not exist yet (dry run), so no record can carry it
        return listing
    ids: dict[str, list[int]] = defaultdict(list)
    for page in hook.iter_pages(
        kind, updated_since=updated_since, custom_fields=listing_keys(resolved, kind)
    ):
        listing.pages += 1
        for record in page:
            key = (record.get("custom_fields") or {}).get(match.key)
            if key in (None, ""):
                continue
            ids[str(key)].append(int(record["id"]))
            values = resolved.values_from_record(kind, record)
            if kind == "person":
                values[ORG_ID] = record.get("org_id")
            listing.known[str(key)] = Known(values)
    for key, found in ids.items():
        if len(found) == 1:
            listing.identity[key] = found[0]
        else:
            listing.conflicts[key] = sorted(found)
            listing.known.pop(key, None)
    return listing
