"""``PUT /v1/{organizations,persons}/{id}/merge``: record ``id`` is folded into ``merge_with_id``.

Merging has no v2 counterpart, so these stay v1 routes among the v2 record routes: v1 error envelope,
and for persons the v1 person item. The store does the merge; this module reads the request and
renders the answer.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ml_connector.sandbox.pipedrive.entities import TITLES
from ml_connector.sandbox.pipedrive.errors import not_found, v1_bad_request
from ml_connector.sandbox.pipedrive.fields import EntityKind, FieldDef
from ml_connector.sandbox.pipedrive.payload import ok, read_v1_json
from ml_connector.sandbox.pipedrive.store import (
    SANDBOX_COMPANY_ID,
    SANDBOX_USER_NAME,
    Account,
    Record,
    render_value,
)
from ml_connector.sandbox.pipedrive.timefmt import v1_time
from ml_connector.sandbox.pipedrive.validation import ADDRESS_KEYS

# Counters of things the sandbox does not hold (deals, activities, mail, files, notes, followers).
_ZERO_COUNTS = (
    "open_deals_count",
    "related_open_deals_count",
    "closed_deals_count",
    "related_closed_deals_count",
    "won_deals_count",
    "related_won_deals_count",
    "lost_deals_count",
    "related_lost_deals_count",
    "participant_open_deals_count",
    "participant_closed_deals_count",
    "email_messages_count",
    "activities_count",
    "done_activities_count",
    "undone_activities_count",
    "files_count",
    "notes_count",
    "followers_count",
)
_NO_ACTIVITY = (
    "next_activity_date",
    "next_activity_time",
    "next_activity_id",
    "last_activity_id",
    "last_activity_date",
    "last_incoming_mail_time",
    "last_outgoing_mail_time",
)


class MergeApi:
    """The merge route of one entity kind."""

    def __init__(self, account: Account, kind: EntityKind) -> None:
        self.account = account
        self.kind = kind

    async def merge(self, request: Request) -> Response:
        survivor_id = merge_with_id(await read_v1_json(request))
        raw = request.path_params["id"]
        if raw.isdigit() and int(raw) == survivor_id:
            raise v1_bad_request(f"{TITLES[self.kind]} cannot be merged with itself.")
        with self.account.lock:
            gone = self._live(int(raw) if raw.isdigit() else None)
            survivor = self._live(survivor_id)
            self.account.merge_records(gone, survivor)
            if self.kind == "organization":
                return ok({"id": survivor.id})
            return ok(v1_person(self.account, survivor, merged_id=gone.id))

    def _live(self, record_id: int | None) -> Record:
        record = self.account.live(self.kind, record_id) if record_id is not None else None
        if record is None:
            raise not_found(TITLES[self.kind])
        return record


def merge_with_id(body: dict[str, Any]) -> int:
    """The required integer ``merge_with_id`` (no coercion of strings, floats or booleans)."""
    value = body.get("merge_with_id")
    if isinstance(value, bool) or not isinstance(value, int):
        raise v1_bad_request("merge_with_id must be given as an integer.")
    return value


def v1_person(account: Account, record: Record, *, merged_id: int) -> dict[str, Any]:
    """A person as v1 renders it after a merge: related objects as plain ids, custom values flat."""
    a = record.attrs
    org = account.live("organization", a["org_id"]) if a["org_id"] is not None else None
    labels = list(a["label_ids"])
    body: dict[str, Any] = {
        "id": record.id,
        "company_id": SANDBOX_COMPANY_ID,
        "owner_id": a["owner_id"],
        "org_id": a["org_id"],
        "name": a["name"],
        "first_name": a["first_name"],
        "last_name": a["last_name"],
        **dict.fromkeys(_ZERO_COUNTS, 0),
        "active_flag": True,
        "phone": _v1_contacts(a["phones"]),
        "email": _v1_contacts(a["emails"]),
        "first_char": (a["name"] or "")[:1].lower(),
        "update_time": v1_time(record.update_time),
        "add_time": v1_time(record.add_time),
        "visible_to": str(a["visible_to"]),
        "picture_id": None,  # the sandbox stores no pictures
        **dict.fromkeys(_NO_ACTIVITY, None),
        "label": labels[0] if labels else None,
        "label_ids": labels,
        "org_name": org.attrs["name"] if org is not None else None,
        "owner_name": SANDBOX_USER_NAME,
        "cc_email": None,
        "merge_what_id": merged_id,
    }
    for f in account.entities["person"].fields.values():
        if f.is_custom:
            body.update(v1_custom(f, render_value(f, record.custom.get(f.key), option_labels=False)))
    return body


def _v1_contacts(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """v1 never answers an empty list here: a person without any has one blank primary entry."""
    return [dict(e) for e in entries] or [{"value": "", "primary": True}]


def v1_custom(f: FieldDef, value: Any) -> dict[str, Any]:
    """One custom value as v1's flat top-level keys: composite types add ``<key>_<part>`` keys, and
    option ids are strings (a set's comma-separated)."""
    parts: dict[str, Any] = value if isinstance(value, dict) else {}
    if f.field_type == "monetary":
        return {f.key: parts.get("value"), f"{f.key}_currency": parts.get("currency")}
    if f.field_type in ("daterange", "timerange"):
        return {f.key: parts.get("value"), f"{f.key}_until": parts.get("until")}
    if f.field_type == "time":
        return {f.key: parts.get("value")}
    if f.field_type == "address":
        return {f.key: parts.get("value"), **{f"{f.key}_{k}": parts.get(k) for k in ADDRESS_KEYS[1:]}}
    if f.field_type == "enum" and value is not None:
        return {f.key: str(value)}
    if f.field_type == "set" and value is not None:
        return {f.key: ",".join(map(str, value))}
    return {f.key: value}
