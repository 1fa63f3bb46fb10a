"""Field definitions over both APIs: v1 ``/v1/{organization,person}Fields`` and the v2 Fields API.

Both work on the same :class:`FieldDef` objects of the account. v1 is lenient about query params
and answers errors with its generic envelope; v2 validates strictly. v1 ``PUT`` replaces the option
list (an option left out is removed); the v2 ``/options`` routes change options atomically in bulk.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ml_connector.sandbox.pipedrive.errors import ApiError, envelope_error, not_found, v1_bad_request
from ml_connector.sandbox.pipedrive.fields import (
    CREATABLE_TYPES_V1,
    CREATABLE_TYPES_V2,
    MAX_OPTIONS,
    OPTION_TYPES,
    EntityKind,
    FieldDef,
    v1_field,
    v2_field,
)
from ml_connector.sandbox.pipedrive.paging import offset_cursor, offset_from_cursor
from ml_connector.sandbox.pipedrive.payload import ok, read_json, read_v1_json
from ml_connector.sandbox.pipedrive.queries import query_int, query_limit
from ml_connector.sandbox.pipedrive.store import Account
from ml_connector.sandbox.pipedrive.validation import Problems, is_int, reject_unknown

OPTIONAL_GROUPS = frozenset({"ui_visibility", "important_fields", "required_fields"})
V1_MAX_LIMIT = 500
V1_DEFAULT_LIMIT = 100


class FieldsApi:
    """v1 and v2 field routes of one entity kind."""

    def __init__(self, account: Account, kind: EntityKind) -> None:
        self.account = account
        self.kind = kind

    @property
    def _fields(self) -> dict[str, FieldDef]:
        return self.account.entities[self.kind].fields

    # -- v2 -----------------------------------------------------------------------------------------
    def _v2_field(self, request: Request) -> FieldDef:
        f = self._fields.get(request.path_params["field_code"])
        if f is None:
            raise not_found("Field")
        return f

    async def v2_list(self, request: Request) -> Response:
        params = request.query_params
        problems = Problems()
        reject_unknown(params.keys(), frozenset({"include_fields", "limit", "cursor", "api_token"}), problems)
        include = frozenset(p.strip() for p in params.get("include_fields", "").split(",") if p.strip())
        for group in sorted(include - OPTIONAL_GROUPS):
            problems.add(
                "include_fields", f"Value '{group}' must be one of {', '.join(sorted(OPTIONAL_GROUPS))}"
            )
        limit = query_limit(params, problems)
        offset = offset_from_cursor(params.get("cursor"))
        if offset is None:
            problems.add("cursor", "Invalid cursor")
        problems.check()
        start = offset or 0
        with self.account.lock:
            fields = list(self._fields.values())
            data = [v2_field(f, include=include) for f in fields[start : start + limit]]
        more = len(fields) > start + limit
        return ok(data, {"next_cursor": offset_cursor(start + limit) if more else None})

    async def v2_get(self, request: Request) -> Response:
        with self.account.lock:
            return ok(v2_field(self._v2_field(request), include=OPTIONAL_GROUPS))

    async def v2_create(self, request: Request) -> Response:
        body = await read_json(request)
        problems = Problems()
        if not isinstance(body, dict):
            problems.expected("body", "object", body)
            problems.check()
        allowed = frozenset({"field_name", "field_type", "options"}) | OPTIONAL_GROUPS
        reject_unknown(body, allowed, problems)
        name = body.get("field_name")
        if not isinstance(name, str) or not 1 <= len(name) <= 255:
            problems.add("field_name", "Expected a string of 1 to 255 characters")
        field_type = body.get("field_type")
        if field_type not in CREATABLE_TYPES_V2:
            problems.add("field_type", f"Value must be one of {', '.join(sorted(CREATABLE_TYPES_V2))}")
        labels = _v2_labels(body.get("options"), field_type, problems)
        _check_groups(body, problems)
        problems.check()
        with self.account.lock:
            ui = body.get("ui_visibility") or {}
            f = self.account.create_field(
                self.kind, name, field_type, labels, bool(ui.get("add_visible_flag", False))
            )
            _apply_groups(f, body)
            return ok(v2_field(f, include=OPTIONAL_GROUPS))

    async def v2_update(self, request: Request) -> Response:
        body = await read_json(request)
        problems = Problems()
        if not isinstance(body, dict) or not body:
            problems.add("body", "At least one field must be provided")
            problems.check()
        reject_unknown(body, frozenset({"field_name"}) | OPTIONAL_GROUPS, problems)
        if "field_name" in body and not (
            isinstance(body["field_name"], str) and 1 <= len(body["field_name"]) <= 255
        ):
            problems.add("field_name", "Expected a string of 1 to 255 characters")
        _check_groups(body, problems)
        problems.check()
        with self.account.lock:
            f = self._v2_field(request)
            if "field_name" in body:
                f.name = body["field_name"]
            _apply_groups(f, body)
            return ok(v2_field(f, include=OPTIONAL_GROUPS))

    async def v2_delete(self, request: Request) -> Response:
        with self.account.lock:
            f = self._v2_field(request)
            if not f.is_custom:
                problems = Problems()
                problems.add("field_code", f"System field '{f.key}' cannot be deleted")
                problems.check()
            self.account.delete_field(self.kind, f)
            return ok(v2_field(f, include=frozenset()))

    async def v2_add_options(self, request: Request) -> Response:
        body = await read_json(request)
        with self.account.lock:
            f = self._option_field(request)
            problems = Problems()
            labels = _option_items(body, ("label",), problems)
            if len(f.options or []) + len(labels) > MAX_OPTIONS:
                problems.add("body", f"A field can have at most {MAX_OPTIONS} options")
            problems.check()
            added = self.account.add_options(f, [item["label"] for item in labels])
            return ok([{"id": o.id, "label": o.label} for o in added], None)

    async def v2_update_options(self, request: Request) -> Response:
        body = await read_json(request)
        with self.account.lock:
            f = self._option_field(request)
            problems = Problems()
            items = _option_items(body, ("id", "label"), problems)
            _known_ids(f, [i["id"] for i in items], problems)
            problems.check()
            changed = self.account.relabel_options(f, {i["id"]: i["label"] for i in items})
            return ok([{"id": o.id, "label": o.label} for o in changed])

    async def v2_delete_options(self, request: Request) -> Response:
        body = await read_json(request)
        with self.account.lock:
            f = self._option_field(request)
            problems = Problems()
            items = _option_items(body, ("id",), problems)
            _known_ids(f, [i["id"] for i in items], problems)
            problems.check()
            removed = self.account.remove_options(f, {i["id"] for i in items})
            return ok([{"id": o.id, "label": o.label} for o in removed])

    def _option_field(self, request: Request) -> FieldDef:
        f = self._v2_field(request)
        if f.field_type not in OPTION_TYPES or not f.is_custom:
            problems = Problems()
            problems.add("field_code", f"Field '{f.key}' of type '{f.field_type}' has no editable options")
            problems.check()
        return f

    # -- v1 -----------------------------------------------------------------------------------------
    def _v1_field(self, request: Request) -> FieldDef:
        raw = request.path_params["id"]
        f = self.account.field_by_id(self.kind, int(raw)) if raw.isdigit() else None
        if f is None:
            raise ApiError(envelope_error(404, "Field not found"))
        return f

    async def v1_list(self, request: Request) -> Response:
        params = request.query_params
        problems = Problems()
        start = query_int(params, "start", problems, minimum=0) or 0
        limit = query_int(params, "limit", problems) or V1_DEFAULT_LIMIT
        if problems.items:
            raise v1_bad_request("; ".join(problems.items))
        limit = min(limit, V1_MAX_LIMIT)
        with self.account.lock:
            fields = list(self._fields.values())
            data = [v1_field(f) for f in fields[start : start + limit]]
        more = len(fields) > start + limit
        pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        return ok(data, {"pagination": pagination})

    async def v1_get(self, request: Request) -> Response:
        with self.account.lock:
            return ok(v1_field(self._v1_field(request)))

    async def v1_create(self, request: Request) -> Response:
        body = await read_v1_json(request)
        name = body.get("name")
        field_type = body.get("field_type")
        if not isinstance(name, str) or not name.strip():
            raise v1_bad_request("Field name must be given.")
        if field_type not in CREATABLE_TYPES_V1:
            raise v1_bad_request("Field type must be given and be one of the allowed types.")
        options = _v1_options(body.get("options"))
        if field_type in OPTION_TYPES and not options:
            raise v1_bad_request("Options must be given for enum and set fields.")
        if field_type not in OPTION_TYPES and options:
            raise v1_bad_request("Options can only be given for enum and set fields.")
        if any("id" in o for o in options):
            raise v1_bad_request("New options must not have an id.")
        add_visible = body.get("add_visible_flag", True)
        if not isinstance(add_visible, bool):
            raise v1_bad_request("add_visible_flag must be a boolean.")
        labels = [o["label"] for o in options] if field_type in OPTION_TYPES else None
        with self.account.lock:
            f = self.account.create_field(self.kind, name, field_type, labels, add_visible)
            return ok(v1_field(f))

    async def v1_update(self, request: Request) -> Response:
        body = await read_v1_json(request)
        with self.account.lock:
            f = self._v1_field(request)
            if "name" in body:
                if not isinstance(body["name"], str) or not body["name"].strip():
                    raise v1_bad_request("Field name must be a non-empty string.")
                if not f.is_custom:
                    raise v1_bad_request("System fields cannot be renamed.")
            if "options" in body:
                self._v1_replace_options(f, _v1_options(body["options"]))
            if "name" in body:
                f.name = body["name"]
            if isinstance(body.get("add_visible_flag"), bool):
                f.add_visible_flag = body["add_visible_flag"]
                f.ui_visibility["add_visible_flag"] = body["add_visible_flag"]
            return ok(v1_field(f))

    def _v1_replace_options(self, f: FieldDef, options: list[dict[str, Any]]) -> None:
        """All active options must be supplied; existing ones by id, new ones by label alone."""
        if f.field_type not in OPTION_TYPES or not f.is_custom:
            raise v1_bad_request("Options can only be given for enum and set fields.")
        known = f.option_ids()
        given = [o["id"] for o in options if "id" in o]
        if any(not is_int(i) or i not in known for i in given):
            raise v1_bad_request("Option id does not exist on this field.")
        self.account.remove_options(f, known - set(given))
        self.account.relabel_options(f, {o["id"]: o["label"] for o in options if "id" in o})
        self.account.add_options(f, [o["label"] for o in options if "id" not in o])

    async def v1_delete(self, request: Request) -> Response:
        with self.account.lock:
            f = self._v1_field(request)
            if not f.is_custom:
                raise v1_bad_request("System fields cannot be deleted.")
            self.account.delete_field(self.kind, f)
            return ok({"id": f.id})

    async def v1_bulk_delete(self, request: Request) -> Response:
        raw = request.query_params.get("ids", "")
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        if not parts or not all(p.isdigit() for p in parts):
            raise v1_bad_request("ids must be a comma separated list of field ids.")
        with self.account.lock:
            found = [self.account.field_by_id(self.kind, int(p)) for p in parts]
            if any(f is None or not f.is_custom for f in found):
                raise v1_bad_request("Only existing custom fields can be deleted.")
            for f in found:
                assert f is not None
                self.account.delete_field(self.kind, f)
            return ok({"id": [int(p) for p in parts]})


# -- helpers ---------------------------------------------------------------------------------------------
def _v2_labels(options: Any, field_type: Any, problems: Problems) -> list[str] | None:
    if field_type not in OPTION_TYPES:
        if options is not None:
            problems.add("options", "Options can only be given for enum and set fields")
        return None
    if not isinstance(options, list) or not options:
        problems.add("options", "Options are required for enum and set fields")
        return None
    items = _option_items(options, ("label",), problems)
    return [i["label"] for i in items]


def _option_items(body: Any, required: tuple[str, ...], problems: Problems) -> list[dict[str, Any]]:
    """A non-empty array of option objects with exactly the ``required`` keys, well typed."""
    if not isinstance(body, list) or not body:
        problems.add("body", "Expected a non-empty array of options")
        return []
    items: list[dict[str, Any]] = []
    for i, entry in enumerate(body):
        if not isinstance(entry, dict) or set(entry) != set(required):
            problems.add(f"[{i}]", f"Expected an object with {', '.join(required)}")
            continue
        if "id" in entry and not is_int(entry["id"]):
            problems.expected(f"[{i}].id", "number", entry["id"])
            continue
        label = entry.get("label", "x")
        if not isinstance(label, str) or not 1 <= len(label) <= 255:
            problems.add(f"[{i}].label", "Expected a string of 1 to 255 characters")
            continue
        items.append(entry)
    return items


def _known_ids(f: FieldDef, ids: list[int], problems: Problems) -> None:
    known = f.option_ids()
    for option_id in ids:
        if option_id not in known:
            problems.add("id", f"Option with id {option_id} does not exist for field '{f.key}'")


def _check_groups(body: dict[str, Any], problems: Problems) -> None:
    for group in OPTIONAL_GROUPS:
        if group in body and not isinstance(body[group], dict):
            problems.expected(group, "object", body[group])


def _apply_groups(f: FieldDef, body: dict[str, Any]) -> None:
    if isinstance(body.get("ui_visibility"), dict):
        f.ui_visibility = {**f.ui_visibility, **body["ui_visibility"]}
        f.add_visible_flag = bool(f.ui_visibility.get("add_visible_flag", f.add_visible_flag))
    if isinstance(body.get("important_fields"), dict):
        f.important_fields = {**f.important_fields, **body["important_fields"]}
    if isinstance(body.get("required_fields"), dict):
        f.required_fields = {**f.required_fields, **body["required_fields"]}


def _v1_options(raw: Any) -> list[dict[str, Any]]:
    """v1 takes options as an array of objects, or that array JSON-encoded in a string."""
    if raw is None:
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise v1_bad_request("options must be a JSON-encoded array of objects.") from exc
    if not isinstance(raw, list) or not all(isinstance(o, dict) for o in raw):
        raise v1_bad_request("options must be an array of objects.")
    if any(not isinstance(o.get("label"), str) or not o["label"].strip() for o in raw):
        raise v1_bad_request("Every option needs a non-empty label.")
    return raw
