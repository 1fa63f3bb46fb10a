"""Field definitions of one account and how v1 and v2 present the same definition.

v1 (``/v1/organizationFields``) names a field by numeric ``id`` plus ``key``; v2 (``/api/v2/...Fields``)
by ``field_code`` (the same ``key``). Both views render one :class:`FieldDef`, so a field created or
changed through either API shows up identically in the other.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

from ml_connector.sandbox.pipedrive.timefmt import v1_time

EntityKind = Literal["organization", "person"]

# Types a field can be created with (v1 and v2 create bodies).
CREATABLE_TYPES_V1 = frozenset(
    [
        "address",
        "date",
        "daterange",
        "double",
        "enum",
        "monetary",
        "org",
        "people",
        "phone",
        "set",
        "text",
        "time",
        "timerange",
        "user",
        "varchar",
        "varchar_auto",
        "visible_to",
    ]
)
CREATABLE_TYPES_V2 = CREATABLE_TYPES_V1 - {"visible_to"}
OPTION_TYPES = frozenset({"enum", "set"})
# Custom field types the search endpoints look into (spec: organizations/persons search ``fields``).
SEARCHABLE_TYPES = frozenset({"address", "varchar", "text", "varchar_auto", "double", "monetary", "phone"})
MAX_OPTIONS = 10_000

ADDRESS_SUBFIELDS = (
    ("value", "Address value"),
    ("street_number", "House number"),
    ("route", "Street/road name"),
    ("subpremise", "Apartment/suite"),
    ("locality", "District"),
    ("admin_area_level_1", "State/province"),
    ("admin_area_level_2", "County"),
    ("country", "Country"),
    ("postal_code", "Postal code"),
    ("formatted_address", "Formatted address"),
)

# (key, name, field_type) of the built-in fields every account starts with.
SYSTEM_FIELDS: dict[EntityKind, tuple[tuple[str, str, str], ...]] = {
    "organization": (
        ("name", "Name", "varchar"),
        ("owner_id", "Owner", "user"),
        ("address", "Address", "address"),
        ("visible_to", "Visible to", "visible_to"),
        ("label_ids", "Labels", "set"),
        ("website", "Website", "varchar"),
        ("linkedin", "LinkedIn profile", "varchar"),
        ("add_time", "Organization created", "date"),
        ("update_time", "Update time", "date"),
    ),
    "person": (
        ("name", "Name", "varchar"),
        ("first_name", "First name", "varchar"),
        ("last_name", "Last name", "varchar"),
        ("org_id", "Organization", "org"),
        ("owner_id", "Owner", "user"),
        ("phone", "Phone", "phone"),
        ("email", "Email", "varchar"),
        ("visible_to", "Visible to", "visible_to"),
        ("label_ids", "Labels", "set"),
        ("add_time", "Person created", "date"),
        ("update_time", "Update time", "date"),
    ),
}


@dataclass
class FieldOption:
    id: int
    label: str
    add_time: float
    update_time: float


@dataclass
class FieldDef:
    """One field of an entity; ``key`` is the v2 ``field_code``."""

    id: int
    key: str
    name: str
    field_type: str
    is_custom: bool
    order_nr: int
    add_time: float
    update_time: float
    options: list[FieldOption] | None = None
    add_visible_flag: bool = True
    ui_visibility: dict[str, Any] = field(default_factory=dict)
    important_fields: dict[str, Any] = field(default_factory=lambda: {"enabled": False, "stage_ids": []})
    required_fields: dict[str, Any] = field(default_factory=lambda: {"enabled": False})

    def option_ids(self) -> set[int]:
        return {o.id for o in self.options or []}

    def option_label(self, option_id: int) -> str | None:
        return next((o.label for o in self.options or [] if o.id == option_id), None)


def custom_field_key(seed: int, kind: EntityKind, serial: int) -> str:
    """A 40-hex key, stable for a seed and creation order, distinct across entities and accounts."""
    return hashlib.sha1(f"pipedrive-sandbox:{seed}:{kind}:{serial}".encode()).hexdigest()


def default_ui_visibility(add_visible: bool) -> dict[str, Any]:
    return {
        "add_visible_flag": add_visible,
        "details_visible_flag": True,
        "show_in_add_deal_dialog": {"show": False, "order": None},
        "show_in_add_person_dialog": {"show": False, "order": None},
    }


def _subfields(f: FieldDef) -> list[dict[str, str]] | None:
    if f.field_type == "address":
        return [
            {"field_code": code, "field_name": f"{label} of {f.name}", "field_type": "varchar"}
            for code, label in ADDRESS_SUBFIELDS
        ]
    if f.field_type == "monetary":
        return [
            {"field_code": "value", "field_name": f"Value of {f.name}", "field_type": "double"},
            {"field_code": "currency", "field_name": f"Currency of {f.name}", "field_type": "varchar"},
        ]
    return None


def options_view(f: FieldDef) -> list[dict[str, Any]] | None:
    if f.options is None:
        return None
    return [{"id": o.id, "label": o.label} for o in f.options]


def v2_field(f: FieldDef, *, include: frozenset[str]) -> dict[str, Any]:
    """The v2 Fields API object; ``include`` picks the optional groups (``ui_visibility`` ...)."""
    body: dict[str, Any] = {
        "field_name": f.name,
        "field_code": f.key,
        "field_type": f.field_type,
        "options": options_view(f),
        "subfields": _subfields(f),
        "is_custom_field": f.is_custom,
        "is_optional_response_field": False,
    }
    if "ui_visibility" in include:
        body["ui_visibility"] = f.ui_visibility
    if "important_fields" in include:
        body["important_fields"] = f.important_fields
    if "required_fields" in include:
        body["required_fields"] = f.required_fields
    return body


def v1_field(f: FieldDef) -> dict[str, Any]:
    """The v1 field object (``edit_flag`` true marks a custom field)."""
    return {
        "id": f.id,
        "key": f.key,
        "name": f.name,
        "order_nr": f.order_nr,
        "field_type": f.field_type,
        "add_time": v1_time(f.add_time),
        "update_time": v1_time(f.update_time),
        "last_updated_by_user_id": 1,
        "created_by_user_id": 1,
        "active_flag": True,
        "edit_flag": f.is_custom,
        "index_visible_flag": True,
        "details_visible_flag": bool(f.ui_visibility.get("details_visible_flag", True)),
        "add_visible_flag": f.add_visible_flag,
        "important_flag": bool(f.important_fields.get("enabled", False)),
        "bulk_edit_allowed": True,
        "searchable_flag": f.is_custom and f.field_type in SEARCHABLE_TYPES,
        "filtering_allowed": True,
        "sortable_flag": True,
        "mandatory_flag": bool(f.required_fields.get("enabled", False)),
        "options": options_view(f),
    }
