"""The state of one Pipedrive company account: field definitions, organizations and persons.

Records keep their system attributes and custom values apart; the v2 object is rendered on the way
out so that field deletions, option removals and ``custom_fields``/``include_option_labels`` query
options apply to every response the same way. Deletion is soft, as in the real API, and so is the
disappearance of a record merged into another.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ml_connector.sandbox.pipedrive.fields import (
    SYSTEM_FIELDS,
    EntityKind,
    FieldDef,
    FieldOption,
    custom_field_key,
    default_ui_visibility,
)
from ml_connector.sandbox.pipedrive.search import SearchIndex, search_doc
from ml_connector.sandbox.pipedrive.timefmt import rfc3339

ORG_DEFAULTS: dict[str, Any] = {
    "name": None,
    "owner_id": 1,
    "visible_to": 3,
    "address": None,
    "label_ids": [],
    "website": None,
    "linkedin": None,
    "industry": None,
    "annual_revenue": None,
    "employee_count": None,
}
PERSON_DEFAULTS: dict[str, Any] = {
    "name": None,
    "first_name": None,
    "last_name": None,
    "owner_id": 1,
    "org_id": None,
    "emails": [],
    "phones": [],
    "visible_to": 3,
    "label_ids": [],
    "picture_id": None,
}
# The one user of the account (``/v1/users/me``), owner of every record.
SANDBOX_USER_NAME = "Sandbox Admin"
SANDBOX_COMPANY_ID = 1
# A person's name parts stay together in a merge: the survivor always has a name.
NAME_ATTRS = frozenset({"name", "first_name", "last_name"})
# Contact-Sync attributes: accepted and returned once set, absent otherwise.
PERSON_OPTIONAL = ("postal_address", "notes", "im", "birthday", "job_title", "marketing_status")
DEFAULTS: dict[EntityKind, dict[str, Any]] = {"organization": ORG_DEFAULTS, "person": PERSON_DEFAULTS}


@dataclass
class Record:
    id: int
    kind: EntityKind
    attrs: dict[str, Any]
    custom: dict[str, Any]
    add_time: float
    update_time: float
    is_deleted: bool = False


@dataclass(frozen=True)
class View:
    """How to render records: which custom field keys, and enum/set values as ``{id, label}``."""

    only_keys: frozenset[str] | None = None
    option_labels: bool = False


@dataclass
class EntityStore:
    fields: dict[str, FieldDef] = field(default_factory=dict)
    deleted_field_keys: set[str] = field(default_factory=set)
    records: dict[int, Record] = field(default_factory=dict)
    next_id: int = 1


class Account:
    """One company account; handlers hold :attr:`lock` around anything that reads then writes."""

    def __init__(self, seed: int, search_lag_s: float) -> None:
        self.seed = seed
        self.default_search_lag_s = search_lag_s
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.entities: dict[EntityKind, EntityStore] = {
                "organization": EntityStore(),
                "person": EntityStore(),
            }
            self.index = SearchIndex(self.default_search_lag_s)
            self._next_field_id = 1
            self._next_option_id = 1
            self._key_serial = 0
            now = time.time()
            for kind, specs in SYSTEM_FIELDS.items():
                for key, name, field_type in specs:
                    self._add_field(kind, key, name, field_type, is_custom=False, now=now)

    # -- fields -------------------------------------------------------------------------------------
    def _add_field(
        self, kind: EntityKind, key: str, name: str, field_type: str, *, is_custom: bool, now: float
    ) -> FieldDef:
        store = self.entities[kind]
        f = FieldDef(
            id=self._next_field_id,
            key=key,
            name=name,
            field_type=field_type,
            is_custom=is_custom,
            order_nr=len(store.fields) + 1,
            add_time=now,
            update_time=now,
            ui_visibility=default_ui_visibility(True),
        )
        if key == "name":
            f.required_fields = {"enabled": True}
        self._next_field_id += 1
        store.fields[key] = f
        return f

    def create_field(
        self, kind: EntityKind, name: str, field_type: str, labels: list[str] | None, add_visible: bool
    ) -> FieldDef:
        now = time.time()
        self._key_serial += 1
        key = custom_field_key(self.seed, kind, self._key_serial)
        f = self._add_field(kind, key, name, field_type, is_custom=True, now=now)
        f.add_visible_flag = add_visible
        f.ui_visibility = default_ui_visibility(add_visible)
        if labels is not None:
            f.options = [self._new_option(label, now) for label in labels]
        return f

    def _new_option(self, label: str, now: float) -> FieldOption:
        option = FieldOption(self._next_option_id, label, now, now)
        self._next_option_id += 1
        return option

    def field_by_id(self, kind: EntityKind, field_id: int) -> FieldDef | None:
        return next((f for f in self.entities[kind].fields.values() if f.id == field_id), None)

    def delete_field(self, kind: EntityKind, f: FieldDef) -> None:
        store = self.entities[kind]
        del store.fields[f.key]
        store.deleted_field_keys.add(f.key)

    def add_options(self, f: FieldDef, labels: list[str]) -> list[FieldOption]:
        now = time.time()
        added = [self._new_option(label, now) for label in labels]
        f.options = [*(f.options or []), *added]
        f.update_time = now
        return added

    def relabel_options(self, f: FieldDef, changes: dict[int, str]) -> list[FieldOption]:
        now = time.time()
        changed = []
        for option in f.options or []:
            if option.id in changes:
                option.label = changes[option.id]
                option.update_time = now
                changed.append(option)
        f.update_time = now
        return changed

    def remove_options(self, f: FieldDef, ids: set[int]) -> list[FieldOption]:
        removed = [o for o in f.options or [] if o.id in ids]
        f.options = [o for o in f.options or [] if o.id not in ids]
        f.update_time = time.time()
        return removed

    # -- records ------------------------------------------------------------------------------------
    def create_record(self, kind: EntityKind, attrs: dict[str, Any], custom: dict[str, Any]) -> Record:
        store = self.entities[kind]
        now = time.time()
        add_time = attrs.pop("add_time", None) or now
        full = {**DEFAULTS[kind], **attrs}
        record = Record(store.next_id, kind, full, _drop_nulls(custom), add_time, now)
        store.next_id += 1
        store.records[record.id] = record
        self.reindex(record, now)
        return record

    def update_record(self, record: Record, attrs: dict[str, Any], custom: dict[str, Any]) -> None:
        now = time.time()
        record.attrs.update(attrs)
        for key, value in custom.items():
            if value is None:
                record.custom.pop(key, None)
            else:
                record.custom[key] = value
        record.update_time = now
        self.reindex(record, now)

    def delete_record(self, record: Record) -> None:
        now = time.time()
        record.is_deleted = True
        record.update_time = now
        self.index.put(record.kind, record.id, None, now)

    def merge_records(self, gone: Record, survivor: Record) -> None:
        """Fold ``gone`` into ``survivor``, whose values win: it takes ``gone``'s only where its own are
        empty. ``gone`` is then deleted, and an organization's persons move to the survivor."""
        now = time.time()
        for key, value in gone.attrs.items():
            if key not in NAME_ATTRS and _is_empty(survivor.attrs.get(key)) and not _is_empty(value):
                survivor.attrs[key] = copy.deepcopy(value)
        for f in self.entities[survivor.kind].fields.values():
            value = gone.custom.get(f.key)
            if f.is_custom and _is_unset(f, survivor.custom.get(f.key)) and not _is_unset(f, value):
                survivor.custom[f.key] = copy.deepcopy(value)
        survivor.update_time = now
        self.reindex(survivor, now)
        if gone.kind == "organization":
            self._relink_persons(gone.id, survivor.id, now)
        self.delete_record(gone)

    def _relink_persons(self, from_org: int, to_org: int, now: float) -> None:
        for person in self.entities["person"].records.values():
            if not person.is_deleted and person.attrs.get("org_id") == from_org:
                person.attrs["org_id"] = to_org
                person.update_time = now
                self.reindex(person, now)

    def reindex(self, record: Record, now: float) -> None:
        fields = self.entities[record.kind].fields
        self.index.put(
            record.kind, record.id, search_doc(record.id, record.attrs, record.custom, fields), now
        )

    def live(self, kind: EntityKind, record_id: int) -> Record | None:
        record = self.entities[kind].records.get(record_id)
        return record if record is not None and not record.is_deleted else None

    # -- rendering ------------------------------------------------------------------------------------
    def render(self, record: Record, view: View = View()) -> dict[str, Any]:
        """The v2 object: every active custom field key present, ``null`` when unset."""
        a = record.attrs
        fields = self.entities[record.kind].fields
        body: dict[str, Any] = {"id": record.id, "name": a["name"]}
        if record.kind == "person":
            body.update(first_name=a["first_name"], last_name=a["last_name"])
        body.update(owner_id=a["owner_id"])
        if record.kind == "person":
            body["org_id"] = a["org_id"]
        body.update(add_time=rfc3339(record.add_time), update_time=rfc3339(record.update_time))
        if record.kind == "person":
            body.update(emails=a["emails"], phones=a["phones"])
        body.update(is_deleted=record.is_deleted, visible_to=a["visible_to"])
        if record.kind == "organization":
            body.update(address=a["address"], label_ids=a["label_ids"])
            for key in ("website", "linkedin", "industry", "annual_revenue", "employee_count"):
                body[key] = a[key]
        else:
            body.update(label_ids=a["label_ids"], picture_id=a["picture_id"])
            body.update({k: a[k] for k in PERSON_OPTIONAL if a.get(k) is not None})
        body["custom_fields"] = {
            f.key: render_value(f, record.custom.get(f.key), view.option_labels)
            for f in fields.values()
            if f.is_custom and (view.only_keys is None or f.key in view.only_keys)
        }
        return body


def _drop_nulls(custom: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in custom.items() if v is not None}


def _is_empty(value: Any) -> bool:
    return value is None or value in ("", [], {})


def _is_unset(f: FieldDef, value: Any) -> bool:
    """Empty as responses show it: blank, or holding only options removed since."""
    return _is_empty(render_value(f, value, option_labels=False))


def render_value(f: FieldDef, value: Any, option_labels: bool) -> Any:
    """Values of removed options disappear; with ``option_labels`` ids become ``{id, label}``."""
    if value is None or f.field_type not in ("enum", "set"):
        return value
    ids = value if isinstance(value, list) else [value]
    kept = [i for i in ids if i in f.option_ids()]
    rendered: list[Any] = [{"id": i, "label": f.option_label(i)} for i in kept] if option_labels else kept
    if f.field_type == "enum":
        return rendered[0] if rendered else None
    return rendered or None
