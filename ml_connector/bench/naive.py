"""The baseline: how a generic integration tool syncs, through the same hooks and the same rows.

For every transformed record it asks Pipedrive's search endpoint for the Workday ID, then updates the
hit with the whole record or creates it: no state, no diff, so an unchanged record costs a search and a
write on every run. It starts from the real tasks' staged output (extract, transform, resolved fields),
so the only difference to the connector is how the load decides what to send.
"""

from __future__ import annotations

import logging
from typing import Any

from ml_connector.dag.context import RunContext
from ml_connector.fields import ResolvedFields
from ml_connector.hooks.pipedrive import PipedriveHook
from ml_connector.load.inputs import TRANSFORMED
from ml_connector.load.plan import is_empty
from ml_connector.load.state import rows_from_table
from ml_connector.vocabulary import RECORD_KINDS

log = logging.getLogger("ml_connector.bench.naive")


def naive_load(ctx: RunContext) -> None:
    """Search-then-write every organization, then every person (with its organization's id)."""
    resolved = ResolvedFields.from_json(ctx.files.read_document("fields") or {})
    hook = PipedriveHook(ctx.pipedrive_conn_id)
    ids: dict[str, int] = {}  # organization key -> Pipedrive id, for the persons' org_id
    counts = {"created": 0, "updated": 0}
    try:
        for kind in RECORD_KINDS:
            match = resolved.match_field(kind)
            for row in rows_from_table(kind, ctx.files.read_table(TRANSFORMED[kind])):
                values = {k: v for k, v in {**row.values, match.name: row.key}.items() if not is_empty(v)}
                body: dict[str, Any] = resolved.to_payload(kind, values)
                if kind == "person" and row.org_key in ids:
                    body["org_id"] = ids[row.org_key]
                hits = hook.search(kind, row.key, fields=["custom_fields"], exact_match=True)
                if hits:
                    record = hook.patch(kind, int(hits[0]["item"]["id"]), body)
                    counts["updated"] += 1
                else:
                    record = hook.create(kind, body)
                    counts["created"] += 1
                if kind == "organization":
                    ids[row.key] = int(record["id"])
    finally:
        hook.close()
    log.info("naive load: %s", counts)
