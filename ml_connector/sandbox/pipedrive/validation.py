"""Strict v2 request-body validation, as the real API does it since v2: no coercion, no unknown params.

Every problem is collected as ``"<param>: <message>"`` and answered together as one 400
``ERR_SCHEMA_VALIDATION_FAILED``. Custom-field problems name the field code, as the real messages do
since May 2026. One case answers 500 ``ERR_UNKNOWN`` instead, as reported for the real service: an
object where a custom field expects a scalar (custom fields wrapped one level too deep).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ml_connector.sandbox.pipedrive.errors import ValidationFailed, internal_error
from ml_connector.sandbox.pipedrive.fields import EntityKind, FieldDef
from ml_connector.sandbox.pipedrive.store import EntityStore
from ml_connector.sandbox.pipedrive.timefmt import parse_rfc3339

HEX40 = re.compile(r"^[0-9a-f]{40}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2})?$")
VISIBLE_TO = (1, 3, 5, 7)
# Stored in full, missing subfields as null (only ``value`` is required on write).
ADDRESS_KEYS = (
    "value",
    "country",
    "admin_area_level_1",
    "admin_area_level_2",
    "locality",
    "sublocality",
    "route",
    "street_number",
    "subpremise",
    "postal_code",
    "formatted_address",
)
MARKETING_STATUS = ("no_consent", "unsubscribed", "subscribed", "archived")

_COMMON = {"owner_id", "visible_to", "label_ids", "custom_fields"}
BODY_PARAMS: dict[tuple[EntityKind, bool], frozenset[str]] = {
    ("organization", True): frozenset(
        _COMMON
        | {
            "name",
            "add_time",
            "address",
            "website",
            "linkedin",
            "industry",
            "annual_revenue",
            "employee_count",
        }
    ),
    ("organization", False): frozenset(
        _COMMON | {"name", "address", "website", "linkedin", "industry", "annual_revenue", "employee_count"}
    ),
    ("person", True): frozenset(
        _COMMON
        | {"name", "first_name", "last_name", "org_id", "add_time", "emails", "phones", "postal_address"}
        | {"notes", "im", "birthday", "job_title", "marketing_status"}
    ),
    ("person", False): frozenset(
        _COMMON
        | {"name", "first_name", "last_name", "org_id", "emails", "phones", "postal_address"}
        | {"notes", "im", "birthday", "job_title", "marketing_status"}
    ),
}


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Problems:
    """Collects problems; :meth:`check` raises them all at once."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, param: str, message: str) -> None:
        self.items.append(f"{param}: {message}")

    def expected(self, param: str, expected: str, value: Any) -> None:
        self.add(param, f"Expected '{expected}' as value, received '{type_name(value)}'")

    def check(self) -> None:
        if self.items:
            raise ValidationFailed(self.items)


def reject_unknown(keys: Any, allowed: frozenset[str], problems: Problems) -> None:
    for key in keys:
        if key not in allowed:
            problems.add(key, f"Parameter '{key}' is not allowed for this request")


# -- request bodies ------------------------------------------------------------------------------------
@dataclass
class Changes:
    attrs: dict[str, Any]
    custom: dict[str, Any]


def entity_body(
    kind: EntityKind,
    body: Any,
    store: EntityStore,
    *,
    create: bool,
    org_exists: Callable[[int], bool],
) -> Changes:
    """Validate a v2 POST/PATCH body of an organization or person and normalise it for the store."""
    problems = Problems()
    if not isinstance(body, dict):
        problems.expected("body", "object", body)
        problems.check()
    reject_unknown(body, BODY_PARAMS[(kind, create)], problems)
    attrs: dict[str, Any] = {}
    for key, value in body.items():
        if key in BODY_PARAMS[(kind, create)] and key != "custom_fields":
            checked = _attr(key, value, problems, org_exists)
            if checked is not _INVALID:
                attrs[key] = checked
    _names(kind, body, attrs, problems, create=create)
    custom: dict[str, Any] = {}
    if "custom_fields" in body:
        custom = custom_fields(body["custom_fields"], store, problems)
    problems.check()
    return Changes(attrs, custom)


_INVALID = object()


def _attr(key: str, value: Any, problems: Problems, org_exists: Callable[[int], bool]) -> Any:
    if key in ("name", "first_name", "last_name", "job_title", "notes"):
        return value if _is(isinstance(value, str), key, "string", value, problems) else _INVALID
    if key in ("owner_id", "visible_to"):
        if not _is(is_int(value), key, "number", value, problems):
            return _INVALID
        if key == "visible_to" and value not in VISIBLE_TO:
            problems.add(key, f"Value must be one of {', '.join(map(str, VISIBLE_TO))}")
            return _INVALID
        return value
    if key == "org_id":
        if value is None:
            return None
        if not _is(is_int(value), key, "number", value, problems):
            return _INVALID
        if not org_exists(value):
            problems.add(key, f"Organization with id {value} does not exist")
            return _INVALID
        return value
    if key in ("industry", "annual_revenue", "employee_count"):
        return value if _is(value is None or is_int(value), key, "number", value, problems) else _INVALID
    if key in ("website", "linkedin"):
        return (
            value
            if _is(value is None or isinstance(value, str), key, "string", value, problems)
            else _INVALID
        )
    if key == "label_ids":
        ok = isinstance(value, list) and all(is_int(v) for v in value)
        return list(value) if _is(ok, key, "array", value, problems) else _INVALID
    if key == "add_time":
        ts = parse_rfc3339(value) if isinstance(value, str) else None
        if ts is None:
            problems.add(key, "Expected an RFC 3339 date-time without fractional seconds")
            return _INVALID
        return ts
    if key in ("address", "postal_address"):
        return None if value is None else _address(key, value, problems)
    if key in ("emails", "phones", "im"):
        return _contacts(key, value, problems)
    if key == "birthday":
        ok = isinstance(value, str) and bool(_DATE.match(value))
        return value if _is(ok, key, "string", value, problems) else _INVALID
    if key == "marketing_status":
        if value not in MARKETING_STATUS:
            problems.add(key, f"Value must be one of {', '.join(MARKETING_STATUS)}")
            return _INVALID
        return value
    raise AssertionError(f"unhandled parameter {key}")  # pragma: no cover - BODY_PARAMS lists only these


def _is(ok: bool, key: str, expected: str, value: Any, problems: Problems) -> bool:
    if not ok:
        problems.expected(key, expected, value)
    return ok


def _address(key: str, value: Any, problems: Problems) -> Any:
    if not isinstance(value, dict):
        problems.expected(key, "object", value)
        return _INVALID
    ok = True
    for sub, sub_value in value.items():
        if sub not in ADDRESS_KEYS:
            problems.add(f"{key}.{sub}", f"Parameter '{sub}' is not allowed for this request")
            ok = False
        elif not isinstance(sub_value, str) and not (sub != "value" and sub_value is None):
            problems.expected(f"{key}.{sub}", "string", sub_value)
            ok = False
    if "value" not in value:
        problems.add(f"{key}.value", "Required parameter is missing")
        ok = False
    return {k: value.get(k) for k in ADDRESS_KEYS} if ok else _INVALID


def _contacts(key: str, value: Any, problems: Problems) -> Any:
    """Emails, phones, IMs: objects only; label defaults to ``work``; the first is primary if none is."""
    if not isinstance(value, list):
        problems.expected(key, "array", value)
        return _INVALID
    out: list[dict[str, Any]] = []
    for i, entry in enumerate(value):
        path = f"{key}[{i}]"
        if not isinstance(entry, dict):
            problems.add(path, f"Expected 'object' as value, received '{type_name(entry)}'")
            continue
        reject_unknown(
            (f"{path}.{k}" for k in entry if k not in ("value", "primary", "label")), frozenset(), problems
        )
        if not isinstance(entry.get("value"), str):
            problems.expected(f"{path}.value", "string", entry.get("value"))
        primary = entry.get("primary", False)
        if not isinstance(primary, bool):
            problems.expected(f"{path}.primary", "boolean", primary)
        label = entry.get("label", "work")
        if not isinstance(label, str):
            problems.expected(f"{path}.label", "string", label)
        out.append({"value": entry.get("value"), "primary": primary is True, "label": label})
    primaries = sum(1 for e in out if e["primary"])
    if primaries > 1:
        problems.add(key, "Only one value can be marked as primary")
    if out and primaries == 0:
        out[0]["primary"] = True
    return out


def _names(
    kind: EntityKind, body: dict[str, Any], attrs: dict[str, Any], problems: Problems, *, create: bool
) -> None:
    """Organizations need ``name``; persons ``name`` or both ``first_name`` and ``last_name``."""
    if kind == "organization":
        if create and "name" not in body:
            problems.add("name", "Required parameter is missing")
        elif "name" in attrs and not attrs["name"].strip():
            problems.add("name", "Value must not be empty")
        return
    has_parts = "first_name" in body and "last_name" in body
    if create and "name" not in body and not has_parts:
        problems.add("name", "Either 'name' or both 'first_name' and 'last_name' must be provided")
        return
    if "name" in attrs:
        if not attrs["name"].strip():
            problems.add("name", "Value must not be empty")
            return
        first, _, last = attrs["name"].strip().partition(" ")
        attrs.setdefault("first_name", first)
        attrs.setdefault("last_name", last.strip())
    elif has_parts and isinstance(attrs.get("first_name"), str) and isinstance(attrs.get("last_name"), str):
        if not (attrs["first_name"] or attrs["last_name"]):
            problems.add("name", "'first_name' and 'last_name' must not both be empty")
            return
        attrs["name"] = f"{attrs['first_name']} {attrs['last_name']}".strip()


# -- custom fields -----------------------------------------------------------------------------------
_KIND_WORDS = {
    "enum": "single option",
    "set": "multiple options",
    "double": "numeric",
    "monetary": "monetary",
    "user": "user",
    "org": "organization",
    "people": "person",
}
_SCALAR_TYPES = frozenset(
    ["varchar", "varchar_auto", "text", "phone", "double", "enum", "set", "user", "org", "people", "date"]
)


def custom_fields(value: Any, store: EntityStore, problems: Problems) -> dict[str, Any]:
    """Validate ``custom_fields``: known 40-hex keys only, each value typed for its field."""
    if not isinstance(value, dict):
        problems.expected("custom_fields", "object", value)
        return {}
    out: dict[str, Any] = {}
    for key, field_value in value.items():
        f = store.fields.get(key)
        if f is None or not f.is_custom:
            if isinstance(field_value, dict) and not HEX40.match(key):
                raise internal_error()
            why = "has been deleted" if key in store.deleted_field_keys else "does not exist"
            problems.add("custom_fields", f"Custom field '{key}' {why}")
            continue
        if field_value is None:
            out[key] = None
            continue
        if isinstance(field_value, dict) and f.field_type in _SCALAR_TYPES:
            raise internal_error()
        checked = _custom_value(f, field_value, problems)
        if checked is not _INVALID:
            out[key] = checked
    return out


def _custom_value(f: FieldDef, value: Any, problems: Problems) -> Any:
    t = f.field_type

    def wrong(expected: str) -> Any:
        words = _KIND_WORDS.get(t, t)
        got = type_name(value)
        problems.add(
            "custom_fields",
            f"Expected '{expected}' as value for {words} custom field '{f.key}', received '{got}'",
        )
        return _INVALID

    if t in ("varchar", "varchar_auto", "text", "phone"):
        if not isinstance(value, str):
            return wrong("string")
        if t in ("varchar", "varchar_auto", "phone") and len(value) > 255:
            problems.add("custom_fields", f"Value of custom field '{f.key}' is longer than 255 characters")
            return _INVALID
        return value
    if t == "double":
        return value if is_number(value) else wrong("number")
    if t in ("user", "org", "people"):
        return value if is_int(value) else wrong("number")
    if t == "enum":
        if not is_int(value):
            return wrong("number")
        return value if _options_exist(f, [value], problems) else _INVALID
    if t == "set":
        if not isinstance(value, list) or not value or not all(is_int(v) for v in value):
            return wrong("array of numbers (non-empty; use null to clear)")
        return list(dict.fromkeys(value)) if _options_exist(f, value, problems) else _INVALID
    if t == "monetary":
        ok = (
            isinstance(value, dict)
            and is_number(value.get("value"))
            and isinstance(value.get("currency"), str)
        )
        if not ok or set(value) - {"value", "currency"}:
            return wrong("object {value: number, currency: string}")
        return {"value": value["value"], "currency": value["currency"]}
    if t == "date":
        return value if isinstance(value, str) and _DATE.match(value) else wrong("date string YYYY-MM-DD")
    if t in ("daterange", "time", "timerange"):
        return _ranged(f, value, wrong)
    if t == "address":
        checked = _address(f"custom_fields.{f.key}", value, problems)
        return checked
    return value  # visible_to and other system-only types never reach here


def _ranged(f: FieldDef, value: Any, wrong: Callable[[str], Any]) -> Any:
    pattern = _DATE if f.field_type == "daterange" else _TIME
    allowed = {"value", "until"} if f.field_type != "time" else {"value"}
    if f.field_type != "daterange":
        allowed |= {"timezone_id", "timezone_name"}
    if not isinstance(value, dict) or set(value) - allowed:
        return wrong("object")
    for part in ("value", "until") if "until" in allowed else ("value",):
        if not (isinstance(value.get(part), str) and pattern.match(value[part])):
            return wrong("object")
    return dict(value)


def _options_exist(f: FieldDef, ids: list[int], problems: Problems) -> bool:
    missing = [i for i in ids if i not in f.option_ids()]
    for option_id in missing:
        problems.add("custom_fields", f"Option with id {option_id} does not exist for custom field '{f.key}'")
    return not missing
