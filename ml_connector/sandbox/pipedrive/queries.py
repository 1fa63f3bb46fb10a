"""Strict v2 query-string validation: declared params only, typed values, the documented maxima."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ml_connector.sandbox.pipedrive.fields import EntityKind
from ml_connector.sandbox.pipedrive.paging import decode_cursor, offset_from_cursor
from ml_connector.sandbox.pipedrive.search import SEARCH_FIELDS
from ml_connector.sandbox.pipedrive.timefmt import parse_rfc3339
from ml_connector.sandbox.pipedrive.validation import Problems, reject_unknown

MAX_CUSTOM_FIELD_KEYS = 15
MAX_IDS = 100
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
# Query parameters the list endpoints declare, plus the api_token credential.
_ORGANIZATION_LIST_PARAMS = frozenset(
    [
        "filter_id",
        "ids",
        "owner_id",
        "updated_since",
        "updated_until",
        "sort_by",
        "sort_direction",
        "include_fields",
        "custom_fields",
        "include_option_labels",
        "include_labels",
        "limit",
        "cursor",
        "api_token",
    ]
)
LIST_PARAMS: dict[EntityKind, frozenset[str]] = {
    "organization": _ORGANIZATION_LIST_PARAMS,
    "person": _ORGANIZATION_LIST_PARAMS | {"org_id", "deal_id"},
}
GET_PARAMS = frozenset(
    ["include_fields", "custom_fields", "include_option_labels", "include_labels", "api_token"]
)
SEARCH_PARAMS: dict[EntityKind, frozenset[str]] = {
    "organization": frozenset(["term", "fields", "exact_match", "limit", "cursor", "api_token"]),
    "person": frozenset(
        ["term", "fields", "exact_match", "organization_id", "include_fields", "limit", "cursor", "api_token"]
    ),
}


def query_int(params: Mapping[str, str], name: str, problems: Problems, minimum: int = 1) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not re.fullmatch(r"-?\d+", raw):
        problems.add(name, f"Expected 'number' as value, received '{raw}'")
        return None
    number = int(raw)
    if number < minimum:
        problems.add(name, f"Value must be greater than or equal to {minimum}")
        return None
    return number


def query_bool(params: Mapping[str, str], name: str, problems: Problems) -> bool:
    raw = params.get(name)
    if raw is None:
        return False
    if raw not in ("true", "false"):
        problems.add(name, f"Expected 'boolean' as value, received '{raw}'")
        return False
    return raw == "true"


def query_limit(params: Mapping[str, str], problems: Problems) -> int:
    limit = query_int(params, "limit", problems)
    if limit is not None and limit > MAX_LIMIT:
        problems.add("limit", f"Value must be less than or equal to {MAX_LIMIT}")
    return min(limit or DEFAULT_LIMIT, MAX_LIMIT)


def query_time(params: Mapping[str, str], name: str, problems: Problems) -> float | None:
    raw = params.get(name)
    if raw is None:
        return None
    ts = parse_rfc3339(raw)
    if ts is None:
        problems.add(
            name, "Expected an RFC 3339 date-time without fractional seconds, e.g. 2025-01-01T10:20:00Z"
        )
    return ts


def custom_field_keys(params: Mapping[str, str], problems: Problems) -> frozenset[str] | None:
    raw = params.get("custom_fields")
    if raw is None:
        return None
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    if len(keys) > MAX_CUSTOM_FIELD_KEYS:
        problems.add("custom_fields", f"At most {MAX_CUSTOM_FIELD_KEYS} custom field keys are allowed")
    return frozenset(keys)


@dataclass(frozen=True)
class ListQuery:
    ids: frozenset[int] | None
    owner_id: int | None
    org_id: int | None
    deal_id: int | None
    since: float | None
    until: float | None
    sort_by: str
    direction: str
    only_keys: frozenset[str] | None
    option_labels: bool
    limit: int
    after: dict[str, Any] | None


def list_query(params: Mapping[str, str], kind: EntityKind) -> ListQuery:
    problems = Problems()
    reject_unknown(params.keys(), LIST_PARAMS[kind], problems)
    if params.get("filter_id") is not None and query_int(params, "filter_id", problems) is not None:
        problems.add("filter_id", f"Filter with id {params['filter_id']} does not exist")
    ids: frozenset[int] | None = None
    if params.get("ids") is not None:
        parts = [p.strip() for p in params["ids"].split(",") if p.strip()]
        if not all(re.fullmatch(r"\d+", p) for p in parts):
            problems.add("ids", "Expected a comma separated list of numbers")
        elif len(parts) > MAX_IDS:
            problems.add("ids", f"At most {MAX_IDS} ids are allowed")
        else:
            ids = frozenset(int(p) for p in parts)
    sort_by = params.get("sort_by", "id")
    if sort_by not in ("id", "update_time", "add_time"):
        problems.add("sort_by", "Value must be one of id, update_time, add_time")
    direction = params.get("sort_direction", "asc")
    if direction not in ("asc", "desc"):
        problems.add("sort_direction", "Value must be one of asc, desc")
    after = None
    if params.get("cursor") is not None:
        after = decode_cursor(params["cursor"])
        if after is None or after.get("field") != sort_by or after.get("sortDirection") != direction:
            problems.add("cursor", "Invalid cursor")
    query = ListQuery(
        ids=ids,
        owner_id=query_int(params, "owner_id", problems),
        org_id=query_int(params, "org_id", problems),
        deal_id=query_int(params, "deal_id", problems),
        since=query_time(params, "updated_since", problems),
        until=query_time(params, "updated_until", problems),
        sort_by=sort_by,
        direction=direction,
        only_keys=custom_field_keys(params, problems),
        option_labels=query_bool(params, "include_option_labels", problems),
        limit=query_limit(params, problems),
        after=after,
    )
    query_bool(params, "include_labels", problems)
    problems.check()
    return query


def view_query(params: Mapping[str, str]) -> tuple[frozenset[str] | None, bool]:
    """``custom_fields`` and ``include_option_labels`` of a single-record GET."""
    problems = Problems()
    reject_unknown(params.keys(), GET_PARAMS, problems)
    keys = custom_field_keys(params, problems)
    labels = query_bool(params, "include_option_labels", problems)
    query_bool(params, "include_labels", problems)
    problems.check()
    return keys, labels


@dataclass(frozen=True)
class SearchQuery:
    term: str
    fields: frozenset[str]
    exact: bool
    organization_id: int | None
    limit: int
    offset: int


def search_query(params: Mapping[str, str], kind: EntityKind) -> SearchQuery:
    problems = Problems()
    reject_unknown(params.keys(), SEARCH_PARAMS[kind], problems)
    exact = query_bool(params, "exact_match", problems)
    term = params.get("term")
    if term is None:
        problems.add("term", "Required parameter is missing")
    elif len(term.strip()) < (1 if exact else 2):
        problems.add("term", f"Value must be at least {1 if exact else 2} characters long")
    allowed = SEARCH_FIELDS[kind]
    fields = allowed
    if params.get("fields") is not None:
        fields = frozenset(f.strip() for f in params["fields"].split(",") if f.strip())
        for unknown in sorted(fields - allowed):
            problems.add("fields", f"Value '{unknown}' must be one of {', '.join(sorted(allowed))}")
    include = params.get("include_fields")
    if include is not None and include != "person.picture":
        problems.add("include_fields", "Value must be one of person.picture")
    offset = offset_from_cursor(params.get("cursor"))
    if offset is None:
        problems.add("cursor", "Invalid cursor")
    query = SearchQuery(
        term=term or "",
        fields=fields,
        exact=exact,
        organization_id=query_int(params, "organization_id", problems),
        limit=query_limit(params, problems),
        offset=offset or 0,
    )
    problems.check()
    return query
