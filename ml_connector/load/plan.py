"""What a load will do to each record, decided without any I/O: create, update (which fields), or not.

An inactive Workday record is written like any other (its status field says "Inactive"; nothing is
ever deleted), unless the mapping's ``inactive_policy`` is ``skip``: then it is left alone.

The plan compares the transform's values with what Pipedrive is known to hold (the values last pushed
by this DAG, or read back from Pipedrive when listing) field by field, so an update sends only what
changed and an unchanged record costs no API call. Empty values (``None``, ``""``, ``[]``) are equal to
each other: Pipedrive stores all of them as "no value".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ml_connector.vocabulary import RecordKind

Action = Literal[
    "create", "update", "unchanged", "skip", "conflict", "merge", "rejected", "deferred", "failed"
]
WRITE_ACTIONS: frozenset[str] = frozenset({"create", "update"})
ORG_ID = "org_id"  # a person's organization: part of its desired state, not a mapped field


@dataclass(frozen=True)
class Row:
    """One transformed record (a row of ``transformed_organizations``/``transformed_persons``)."""

    kind: RecordKind
    key: str
    values: Mapping[str, Any]
    content_hash: str
    active: bool = True
    org_key: str | None = None
    source_ids: str = ""


@dataclass(frozen=True)
class Change:
    field: str
    before: Any
    after: Any

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class PlannedOp:
    """The decision for one record; ``row`` is kept so that a deferred op can be carried over."""

    kind: RecordKind
    key: str
    action: Action
    pipedrive_id: int | None = None
    changes: tuple[Change, ...] = ()
    reason: str = ""
    row: Row | None = None
    status: int | None = None  # the API's HTTP status, when a write failed

    @property
    def fields_changed(self) -> list[str]:
        return [c.field for c in self.changes]

    def changed_values(self) -> dict[str, Any]:
        """The new value of every changed field (what the write sends)."""
        return {c.field: c.after for c in self.changes}

    def but(self, action: Action, reason: str, pipedrive_id: int | None = None) -> PlannedOp:
        return replace(self, action=action, reason=reason, pipedrive_id=pipedrive_id or self.pipedrive_id)


@dataclass(frozen=True)
class Known:
    """What Pipedrive holds for one record as far as the loader knows: ``values`` None means unknown,
    unless ``content_hash`` is set: then they are what this DAG pushed, not read because the row's hash
    (and a person's ``org_id``) still match (:mod:`ml_connector.load.pushed`)."""

    values: Mapping[str, Any] | None = None
    content_hash: str | None = None
    org_id: int | None = None


@dataclass
class PlanInputs:
    """Everything :func:`plan_records` decides from, for one kind."""

    identity: Mapping[str, int]
    known: Mapping[str, Known] = field(default_factory=dict)
    conflicts: Mapping[str, list[int]] = field(default_factory=dict)
    org_ids: Mapping[str, int | str] = field(default_factory=dict)  # persons: org_key -> id (or pending)
    inactive_policy: str = "update_status"
    org_conflicts: Mapping[str, list[int]] = field(default_factory=dict)  # persons: their orgs in conflict


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def same_value(before: Any, after: Any) -> bool:
    """Equal as Pipedrive would store them: empties alike, ``1`` equal to ``1.0``."""
    if is_empty(before) and is_empty(after):
        return True
    if isinstance(before, int | float) and isinstance(after, int | float):
        return float(before) == float(after)
    return bool(json.dumps(before, sort_keys=True) == json.dumps(after, sort_keys=True))


def diff_values(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> tuple[Change, ...]:
    """Field-level changes; with ``before`` unknown every non-empty field counts as changed."""
    if before is None:
        return tuple(Change(k, None, v) for k, v in sorted(after.items()) if not is_empty(v))
    return tuple(
        Change(k, before.get(k), v) for k, v in sorted(after.items()) if not same_value(before.get(k), v)
    )


def desired_values(row: Row, org_id: int | str | None) -> dict[str, Any]:
    """The transform's values, plus ``org_id`` for a person."""
    values = dict(row.values)
    if row.kind == "person":
        values[ORG_ID] = org_id
    return values


def duplicate_reason(kind: RecordKind, key: str, ids: Iterable[int]) -> str:
    """Why a key is a conflict, and what a person can do about it."""
    ids = sorted(ids)
    return (
        f"{len(ids)} Pipedrive {kind}s carry Workday ID {key} (ids {', '.join(map(str, ids))}): merge them in "
        "Pipedrive, or run reconcile with repair_duplicates; nothing is written for this key until then"
    )


def plan_record(row: Row, inputs: PlanInputs) -> PlannedOp:
    """Decide one record (see the module docstring); never calls anything."""
    op = PlannedOp(row.kind, row.key, "unchanged", row=row)
    if row.key in inputs.conflicts:
        return op.but("conflict", duplicate_reason(row.kind, row.key, inputs.conflicts[row.key]))
    pipedrive_id = inputs.identity.get(row.key)
    if not row.active and inputs.inactive_policy == "skip":
        return op.but("skip", "inactive in Workday and inactive_policy is skip: left as it is", pipedrive_id)
    org_id: int | str | None = None
    if row.kind == "person" and (row.org_key or "") in inputs.org_conflicts:
        return op.but(
            "conflict",
            f"its organization {row.org_key} is in conflict ({len(inputs.org_conflicts[row.org_key or ''])} "
            "Pipedrive organizations carry that Workday ID): the person waits until the duplicates are merged",
            pipedrive_id,
        )
    if row.kind == "person":
        org_id = inputs.org_ids.get(row.org_key or "")
        if org_id is None:
            return op.but(
                "deferred",
                f"its organization {row.org_key} is not in Pipedrive yet; the person is written once it is",
                pipedrive_id,
            )
    desired = desired_values(row, org_id)
    if pipedrive_id is None:
        return replace(op, action="create", changes=diff_values(None, desired))
    known = inputs.known.get(row.key)
    if known is not None and known.values is None and same_as_pushed(row, known, org_id):
        return op.but("unchanged", "", pipedrive_id)
    before = known.values if known is not None else None
    changes = diff_values(before, desired)
    if before is not None and not changes:
        return op.but("unchanged", "", pipedrive_id)
    reason = "" if before is not None else "values in Pipedrive unknown to this DAG: every mapped field sent"
    return replace(op, action="update", pipedrive_id=pipedrive_id, changes=changes, reason=reason)


def same_as_pushed(row: Row, known: Known, org_id: int | str | None) -> bool:
    """The row is what this DAG last pushed: the same content hash, and for a person the same
    organization (which the hash does not cover)."""
    if known.content_hash != row.content_hash or not row.content_hash:
        return False
    return row.kind != "person" or known.org_id == org_id


def plan_records(rows: Iterable[Row], inputs: PlanInputs) -> list[PlannedOp]:
    return [plan_record(row, inputs) for row in rows]


def merge_carried(current: Iterable[Row], carried: Iterable[Row]) -> list[Row]:
    """Carried-over keys first (they waited longest), each in this run's version when it has a newer one."""
    now = {r.key: r for r in current}
    first = {r.key: now.get(r.key, r) for r in carried}
    return [*first.values(), *(r for key, r in now.items() if key not in first)]


def needs_listing(
    keys: Iterable[tuple[str, bool]], identity: Mapping[str, int], *, skip_inactive: bool = False
) -> bool:
    """A key (of ``(key, active)`` pairs) Pipedrive may already hold but the map lacks: list before
    creating, never search."""
    return any(key not in identity and (active or not skip_inactive) for key, active in keys)
