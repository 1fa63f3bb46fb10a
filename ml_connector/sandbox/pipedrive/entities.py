"""v2 organizations and persons: list, get, create, update, soft delete and search."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ml_connector.sandbox.pipedrive.errors import not_found
from ml_connector.sandbox.pipedrive.fields import EntityKind
from ml_connector.sandbox.pipedrive.paging import encode_cursor, offset_cursor
from ml_connector.sandbox.pipedrive.payload import ok, path_int, read_json
from ml_connector.sandbox.pipedrive.queries import ListQuery, list_query, search_query, view_query
from ml_connector.sandbox.pipedrive.search import item, match
from ml_connector.sandbox.pipedrive.store import Account, Record, View
from ml_connector.sandbox.pipedrive.timefmt import parse_rfc3339, rfc3339
from ml_connector.sandbox.pipedrive.validation import entity_body

TITLES: dict[EntityKind, str] = {"organization": "Organization", "person": "Person"}


class EntityApi:
    """The handlers of one entity kind over the account."""

    def __init__(self, account: Account, kind: EntityKind) -> None:
        self.account = account
        self.kind = kind

    def _live(self, request: Request) -> Record:
        record = self.account.live(self.kind, path_int(request))
        if record is None:
            raise not_found(TITLES[self.kind])
        return record

    def _org_exists(self, org_id: int) -> bool:
        return self.account.live("organization", org_id) is not None

    async def get(self, request: Request) -> Response:
        only_keys, labels = view_query(request.query_params)
        with self.account.lock:
            record = self._live(request)
            return ok(self.account.render(record, View(only_keys, labels)))

    async def create(self, request: Request) -> Response:
        body = await read_json(request)
        with self.account.lock:
            store = self.account.entities[self.kind]
            changes = entity_body(self.kind, body, store, create=True, org_exists=self._org_exists)
            record = self.account.create_record(self.kind, changes.attrs, changes.custom)
            return ok(self.account.render(record))

    async def update(self, request: Request) -> Response:
        body = await read_json(request)
        with self.account.lock:
            record = self._live(request)
            store = self.account.entities[self.kind]
            changes = entity_body(self.kind, body, store, create=False, org_exists=self._org_exists)
            attrs = changes.attrs
            if self.kind == "person" and "name" not in attrs and {"first_name", "last_name"} & attrs.keys():
                first = attrs.get("first_name", record.attrs["first_name"]) or ""
                last = attrs.get("last_name", record.attrs["last_name"]) or ""
                attrs["name"] = f"{first} {last}".strip() or record.attrs["name"]
            self.account.update_record(record, attrs, changes.custom)
            return ok(self.account.render(record))

    async def delete(self, request: Request) -> Response:
        with self.account.lock:
            record = self._live(request)
            self.account.delete_record(record)
            return ok({"id": record.id})

    async def list_records(self, request: Request) -> Response:
        q = list_query(request.query_params, self.kind)
        with self.account.lock:
            records = self._select(q)
            page = records[: q.limit]
            view = View(q.only_keys, q.option_labels)
            data = [self.account.render(r, view) for r in page]
        next_cursor = _cursor(q, page[-1]) if len(records) > q.limit else None
        return ok(data, {"next_cursor": next_cursor})

    def _select(self, q: ListQuery) -> list[Record]:
        records = [r for r in self.account.entities[self.kind].records.values() if not r.is_deleted]
        if q.deal_id is not None:
            records = []  # the sandbox has no deals, so no person participates in one
        if q.ids is not None:
            records = [r for r in records if r.id in q.ids]
        if q.owner_id is not None:
            records = [r for r in records if r.attrs["owner_id"] == q.owner_id]
        if q.org_id is not None:
            records = [r for r in records if r.attrs.get("org_id") == q.org_id]
        if q.since is not None:
            since = q.since
            records = [r for r in records if int(r.update_time) >= since]
        if q.until is not None:
            until = q.until
            records = [r for r in records if int(r.update_time) < until]
        records.sort(key=lambda r: _sort_key(r, q.sort_by), reverse=q.direction == "desc")
        if q.after is not None:
            after = _cursor_key(q.after, q.sort_by)
            if q.direction == "asc":
                records = [r for r in records if _sort_key(r, q.sort_by) > after]
            else:
                records = [r for r in records if _sort_key(r, q.sort_by) < after]
        return records

    async def search(self, request: Request) -> Response:
        q = search_query(request.query_params, self.kind)
        with self.account.lock:
            fields = self.account.entities[self.kind].fields
            custom_keys = {key for key, f in fields.items() if f.is_custom}
            hits = []
            for doc in self.account.index.docs(self.kind, time.time()):
                if q.organization_id is not None and doc.org_id != q.organization_id:
                    continue
                hit = match(doc, self.kind, q.term, q.fields, q.exact, custom_keys)
                if hit is not None:
                    hits.append(hit)
            hits.sort(key=lambda h: (-h.score, h.doc.id))
            page = hits[q.offset : q.offset + q.limit]
            items = [item(h, self.kind, self._organization(h.doc.org_id)) for h in page]
        more = len(hits) > q.offset + q.limit
        next_cursor = offset_cursor(q.offset + q.limit) if more else None
        return ok({"items": items}, {"next_cursor": next_cursor})

    def _organization(self, org_id: int | None) -> dict[str, Any] | None:
        org = self.account.live("organization", org_id) if org_id is not None else None
        if org is None:
            return None
        address = org.attrs.get("address")
        return {"id": org.id, "name": org.attrs["name"], "address": address["value"] if address else None}


def _sort_key(record: Record, sort_by: str) -> tuple[int, int]:
    if sort_by == "update_time":
        return (int(record.update_time), record.id)
    if sort_by == "add_time":
        return (int(record.add_time), record.id)
    return (record.id, record.id)


def _cursor(q: ListQuery, last: Record) -> str:
    value: Any = last.id
    if q.sort_by != "id":
        value = rfc3339(last.update_time if q.sort_by == "update_time" else last.add_time)
    return encode_cursor(
        {"field": q.sort_by, "fieldValue": value, "sortDirection": q.direction, "id": last.id}
    )


def _cursor_key(after: dict[str, Any], sort_by: str) -> tuple[int, int]:
    record_id = after.get("id")
    value = after.get("fieldValue")
    rid = record_id if isinstance(record_id, int) else 0
    if sort_by == "id":
        return (rid, rid)
    ts = parse_rfc3339(value) if isinstance(value, str) else None
    return (int(ts or 0), rid)
