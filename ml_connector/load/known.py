"""What the loader knows Pipedrive holds while one load runs: identity maps, pushed values, listings.

Read from the state files, folded with the journals of unfinished loads, repaired by listing, updated
by every successful write, and saved at the end. Pure apart from :meth:`KnownState.read` and
:meth:`KnownState.save`, so every rule here is unit-tested without HTTP.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field

from ml_connector.load.identity import Listing
from ml_connector.load.plan import (
    Known,
    PlanInputs,
    PlannedOp,
    Row,
    desired_values,
    needs_listing,
    same_as_pushed,
)
from ml_connector.load.pushed import PushedValues
from ml_connector.load.state import JournalEntry, read_identity, save_after_load
from ml_connector.staging.area import StagingArea
from ml_connector.staging.files import StateFiles
from ml_connector.vocabulary import RECORD_KINDS, Mode, RecordKind

log = logging.getLogger(__name__)


def _per_kind() -> dict[RecordKind, dict[str, int]]:
    return {kind: {} for kind in RECORD_KINDS}


@dataclass
class KnownState:
    """Per record kind: Workday key -> Pipedrive id, the values last pushed, the listing if one was made,
    and the keys whose record turned out deleted (kept out of the saved identity map)."""

    identity: dict[RecordKind, dict[str, int]] = field(default_factory=_per_kind)
    # What this DAG last pushed; read from the state files as :class:`PushedValues` (values on demand).
    pushed: dict[RecordKind, MutableMapping[str, Known]] = field(
        default_factory=lambda: {k: {} for k in RECORD_KINDS}
    )
    listed: dict[RecordKind, Listing | None] = field(default_factory=lambda: dict.fromkeys(RECORD_KINDS))
    forgotten: dict[RecordKind, set[str]] = field(default_factory=lambda: {k: set() for k in RECORD_KINDS})
    # Workday keys that more than one Pipedrive record carries, found by the check of recent changes.
    duplicates: dict[RecordKind, dict[str, list[int]]] = field(
        default_factory=lambda: {k: {} for k in RECORD_KINDS}
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def read(cls, area: StagingArea, entity: str) -> KnownState:
        return cls(
            identity={kind: read_identity(area, kind) for kind in RECORD_KINDS},
            pushed={
                kind: PushedValues(kind, area, StateFiles(area).pushed_path(entity, kind))
                for kind in RECORD_KINDS
            },
        )

    def replay(self, entries: Iterable[JournalEntry]) -> None:
        """Fold journalled writes of unfinished loads in: they happened, whatever the state files say."""
        for entry in entries:
            self.identity[entry.kind][entry.key] = entry.pipedrive_id
            self.pushed[entry.kind][entry.key] = Known(entry.values, entry.content_hash)

    def must_list(
        self,
        kind: RecordKind,
        keys: Iterable[tuple[str, bool]],
        *,
        mode: Mode,
        resumed: bool,
        skip_inactive: bool,
    ) -> bool:
        """Whether the identity map may be incomplete for these rows (see :mod:`ml_connector.load.identity`)."""
        identity = self.identity[kind]
        return (
            mode == "reconcile"
            or resumed
            or not identity
            or needs_listing(keys, identity, skip_inactive=skip_inactive)
        )

    def take_listing(self, kind: RecordKind, listing: Listing) -> set[str]:
        """The listing is the truth about ids: keys it lacks are gone, with their pushed values."""
        self.listed[kind] = listing
        stale = set(self.identity[kind]) - set(listing.identity)
        if stale:
            log.info("%d %s key(s) of the identity map are gone from Pipedrive", len(stale), kind)
        self.identity[kind] = dict(listing.identity)
        for key in stale:
            self.pushed[kind].pop(key, None)
        return stale

    def take_changes(self, kind: RecordKind, changes: Listing) -> tuple[dict[str, list[int]], dict[str, int]]:
        """Fold in a listing of recently changed records. A key the map lacks, carried by one record, is
        adopted, so that it is never created a second time. Returns those, and the candidates for
        duplicates: keys carried under an id other than the map's, or by several records; which of
        their ids are still live decides (:meth:`confirm_duplicates`)."""
        identity = self.identity[kind]
        candidates: dict[str, list[int]] = {}
        adopted: dict[str, int] = {}
        for key, ids in changes.conflicts.items():
            candidates[key] = sorted({*ids, *([identity[key]] if key in identity else [])})
        for key, pipedrive_id in changes.identity.items():
            mapped = identity.get(key)
            if mapped is None:
                identity[key] = adopted[key] = pipedrive_id
            elif mapped != pipedrive_id:
                candidates[key] = sorted({mapped, pipedrive_id})
        return candidates, adopted

    def confirm_duplicates(self, kind: RecordKind, live: dict[str, list[int]]) -> dict[str, list[int]]:
        """``live``: per candidate key, the ids still live in Pipedrive. One left is the key's record now
        (the map's was deleted and the record made again); several are duplicates. Returns those."""
        found = {}
        for key, ids in live.items():
            if len(ids) == 1:
                if self.identity[kind].get(key) != ids[0]:
                    self.identity[kind][key] = ids[0]
                    self.pushed[kind].pop(key, None)  # what the new record holds is not known
            elif ids:
                found[key] = sorted(ids)
        self.duplicates[kind].update(found)
        return found

    def plan_inputs(
        self, kind: RecordKind, *, mode: Mode, inactive_policy: str, pending_orgs: Iterable[str] = ()
    ) -> PlanInputs:
        """What :func:`~ml_connector.load.plan.plan_records` decides from. ``reconcile`` trusts what the
        listing read over what was pushed; the other modes the reverse. ``pending_orgs`` are
        organizations a dry run would create (so their persons plan as creates, not deferrals)."""
        listing = self.listed[kind]
        listed_known = listing.known if listing is not None else {}
        known: Mapping[str, Known]
        if mode == "reconcile":
            known = _Layered(listed_known, self.pushed[kind])
        else:
            known = _Layered(self.pushed[kind], listed_known)
        org_ids: dict[str, int | str] = dict(self.identity["organization"])
        for key in pending_orgs:
            org_ids[key] = f"(new organization {key})"
        org_listing = self.listed["organization"]
        return PlanInputs(
            identity=self.identity[kind],
            known=known,
            conflicts={**(listing.conflicts if listing is not None else {}), **self.duplicates[kind]},
            org_ids=org_ids,
            inactive_policy=inactive_policy,
            org_conflicts=(
                {
                    **(org_listing.conflicts if org_listing is not None else {}),
                    **self.duplicates["organization"],
                }
                if kind == "person"
                else {}
            ),
        )

    def read_changed_values(self, kind: RecordKind, rows: Iterable[Row]) -> int:
        """Read the pushed values of the rows that no longer match them (their hash, or a person's
        organization, changed), for the field-level diff; unchanged rows are never read. Returns how many."""
        pushed = self.pushed[kind]
        if not isinstance(pushed, PushedValues):
            return 0
        changed = []
        for row in rows:
            known = pushed.get(row.key)
            if (
                known is not None
                and known.values is None
                and not same_as_pushed(row, known, self.org_id(row))
            ):
                changed.append(row.key)
        return pushed.load_values(changed)

    def org_id(self, row: Row) -> int | None:
        """A person's organization id as known now (None for an organization)."""
        return self.identity["organization"].get(row.org_key or "") if row.kind == "person" else None

    def desired(self, row: Row) -> dict[str, object]:
        return desired_values(row, self.org_id(row))

    def written(self, op: PlannedOp, pipedrive_id: int) -> None:
        """A create or PATCH succeeded: Pipedrive now holds the row's values under ``pipedrive_id``."""
        assert op.row is not None
        with self._lock:
            self.identity[op.kind][op.key] = pipedrive_id
            self.pushed[op.kind][op.key] = Known(self.desired(op.row), op.row.content_hash)

    def forget(self, kind: RecordKind, key: str) -> None:
        """The record is deleted in Pipedrive: the next run lists and re-creates it."""
        with self._lock:
            self.identity[kind].pop(key, None)
            self.pushed[kind].pop(key, None)
            self.forgotten[kind].add(key)

    def save(self, area: StagingArea, entity: str, carried: Iterable[PlannedOp]) -> None:
        for kind, pushed in self.pushed.items():
            if not isinstance(pushed, PushedValues):
                raise TypeError(
                    f"the pushed {kind}s were not read from the state files: nothing to save them to"
                )
            pushed.save()
        save_after_load(
            area,
            entity,
            identity=self.identity,
            listed={kind: self.listed[kind] is not None for kind in RECORD_KINDS},
            forgotten=self.forgotten,
            carried=carried,
        )


class _Layered(Mapping[str, Known]):
    """Two mappings read as one, ``first`` winning: what is known, without copying either."""

    def __init__(self, first: Mapping[str, Known], second: Mapping[str, Known]) -> None:
        self.first, self.second = first, second

    def __getitem__(self, key: str) -> Known:
        if key in self.first:
            return self.first[key]
        return self.second[key]

    def __contains__(self, key: object) -> bool:
        return key in self.first or key in self.second

    def __iter__(self) -> Iterator[str]:
        yield from self.first
        yield from (k for k in self.second if k not in self.first)

    def __len__(self) -> int:
        return sum(1 for _ in self)
