"""A ledger with a realistic history, written the way the DAGs write it (one file per task of a run).

Customer CUS-000042 (Pipedrive organization 1042) over five daily runs of the customers DAG: created,
its payment terms changed, unchanged, made inactive, then rejected for an invalid email address. The
run that changed the payment terms hit a rate limit. Around it, 1,200 other customers created and
some updated each day, and two supplier runs (the last without its report yet).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ml_connector.audit.ledger import empty_row, write_part
from ml_connector.staging.area import StagingArea

CUSTOMERS = "workday_customers_to_pipedrive"
SUPPLIERS = "workday_suppliers_to_pipedrive"
WID = "CUS-000042"
PIPEDRIVE_ID = 1042
# as the transform words it: what is wrong and what to do, never the value (it may be personal data)
REJECTED = '"emails" is not a valid email address; correct it in Workday'
# The record's rows, newest first, as the page lists them: (action, reason or the change shown).
HISTORY = [
    ("rejected", REJECTED),
    ("update", "Workday customer status: Active → Inactive"),
    ("unchanged", ""),
    ("update", "Workday customer payment terms: NET30 → NET45"),
    ("create", "Workday customer payment terms: (empty) → NET30"),
]


@dataclass(frozen=True)
class Ledger:
    area: StagingArea
    runs: list[str]  # the customers DAG's run ids, oldest first
    incident_run: str  # the run that hit the rate limit
    now: datetime


def _row(
    dag_id: str, run_id: str, ts: datetime, kind: str, key: str, action: str, **values: Any
) -> dict[str, Any]:
    entity = "customers" if dag_id == CUSTOMERS else "suppliers"
    task = {"run": "report", "task": values.pop("task_id", "load")}.get(kind, "load")
    return {
        **empty_row(),
        "ts": ts,
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": task,
        "try_number": values.pop("try_number", 1),
        "mapping_hash": "5d41402abc4b2a76",
        "entity": entity,
        "kind": kind,
        "key": key,
        "action": action,
        "fields_changed": [],
        "reason": "",
        "tokens": 0,
        "dry_run": False,
        **values,
    }


def _changes(*changes: tuple[str, Any, Any]) -> dict[str, Any]:
    return {
        "fields_changed": sorted(name for name, _, _ in changes),
        "changes": json.dumps([{"field": n, "before": b, "after": a} for n, b, a in changes], sort_keys=True),
    }


BUDGET = 30_000  # Pipedrive's daily tokens for one seat of the lowest plan
PAGE = 500  # records per listing page; a listing costs 10 tokens


def write_run(
    area: StagingArea,
    dag_id: str,
    start: datetime,
    records: list[dict[str, Any]],
    *,
    incidents: Sequence[dict[str, Any]] = (),
    report: bool = True,
) -> str:
    """One scheduled run: its tasks' rows (records and incidents in ``load``), then its report."""
    run_id = f"scheduled__{start.replace(hour=0, minute=0, second=0, microsecond=0).isoformat()}"
    entity = "customers" if dag_id == CUSTOMERS else "suppliers"
    listing = 10 * (len(records) // PAGE + 1)
    tokens = listing + sum(int(r.get("tokens") or 0) for r in records)
    at = start
    for task in ("extract", "transform"):
        at += timedelta(seconds=20)
        row = _row(dag_id, run_id, at, "task", task, "success", task_id=task)
        write_part(area, entity=entity, run_id=run_id, task_id=task, rows=[row])
    load_rows = []
    for values in [*incidents, *records]:
        at += timedelta(milliseconds=50)
        load_rows.append(_row(dag_id, run_id, at, **values))
    at += timedelta(seconds=5)
    figures = {"tokens": tokens, "daily_tokens_left": BUDGET - tokens, "daily_budget": BUDGET}
    load_rows.append(_row(dag_id, run_id, at, "task", "load", "success", **figures))
    write_part(area, entity=entity, run_id=run_id, task_id="load", rows=load_rows)
    if not report:
        return run_id
    counts: dict[str, int] = {"read": len(records)}
    for r in records:
        name = {"create": "created", "update": "updated", "unchanged": "unchanged", "rejected": "rejected"}
        counts[name[r["action"]]] = counts.get(name[r["action"]], 0) + 1
    window = {
        "start": (start - timedelta(days=1)).isoformat(),
        "end": start.isoformat(),
        "reason": "interval",
    }
    details = {
        "window": window,
        "mode": "incremental",
        "dry_run": False,
        "organizations": counts,
        "persons": {"read": 0},
        "requests": sum(1 for r in records if r["action"] in ("create", "update")) + listing // 10,
        "duration_s": 41.5,
    }
    rejected = counts.get("rejected", 0)
    at += timedelta(seconds=10)
    rows = [
        _row(dag_id, run_id, at, "task", "report", "success", task_id="report"),
        _row(
            dag_id,
            run_id,
            at + timedelta(seconds=1),
            "run",
            run_id,
            "success",
            details=json.dumps(details, sort_keys=True),
            reason=f"{rejected} record(s) rejected; the reasons are in the ledger" if rejected else "",
            **figures,
        ),
    ]
    write_part(area, entity=entity, run_id=run_id, task_id="report", rows=rows)
    return run_id


def organization(key: str, action: str, **values: Any) -> dict[str, Any]:
    cost = {"create": 5, "update": 5}.get(action, 0)
    return {"kind": "organization", "key": key, "action": action, "tokens": cost, **values}


def others(prefix: str, n: int, action: str, first_id: int) -> list[dict[str, Any]]:
    """``n`` other organizations, all with the same outcome."""
    return [organization(f"{prefix}-{100000 + i:06d}", action, pipedrive_id=first_id + i) for i in range(n)]


def write_history(area: StagingArea, now: datetime | None = None) -> Ledger:
    """The history the module docstring describes; the newest run started an hour before ``now``."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    day = [now - timedelta(days=4 - n, hours=1) for n in range(5)]
    customers = 1200
    runs = [
        write_run(
            area,
            CUSTOMERS,
            day[0],
            [
                organization(
                    WID,
                    "create",
                    pipedrive_id=PIPEDRIVE_ID,
                    http_status=201,
                    **_changes(
                        ("Workday customer payment terms", None, "NET30"), ("name", None, "Acme Widgets GmbH")
                    ),
                ),
                *others("CUS", customers, "create", 5000),
            ],
        ),
        write_run(
            area,
            CUSTOMERS,
            day[1],
            [
                organization(
                    WID,
                    "update",
                    pipedrive_id=PIPEDRIVE_ID,
                    http_status=200,
                    **_changes(("Workday customer payment terms", "NET30", "NET45")),
                ),
                *others("CUS", 60, "update", 5000),
            ],
            incidents=[
                {
                    "kind": "rate_limit",
                    "key": "PATCH /api/v2/organizations/{id}",
                    "action": "burst",
                    "system": "pipedrive",
                    "http_status": 429,
                    "wait_s": 2.0,
                    "reason": "burst limit reached (x-ratelimit-remaining 0): waited 2.0 s",
                }
            ],
        ),
        write_run(
            area,
            CUSTOMERS,
            day[2],
            [organization(WID, "unchanged", pipedrive_id=PIPEDRIVE_ID), *others("CUS", 25, "update", 5000)],
        ),
        write_run(
            area,
            CUSTOMERS,
            day[3],
            [
                organization(
                    WID,
                    "update",
                    pipedrive_id=PIPEDRIVE_ID,
                    http_status=200,
                    **_changes(("Workday customer status", "Active", "Inactive")),
                ),
                *others("CUS", 40, "update", 5000),
            ],
        ),
        write_run(
            area,
            CUSTOMERS,
            day[4],
            [organization(WID, "rejected", reason=REJECTED), *others("CUS", 30, "update", 5000)],
        ),
    ]
    write_run(area, SUPPLIERS, day[3], others("SUP", 480, "create", 9000))
    write_run(area, SUPPLIERS, day[4], others("SUP", 12, "update", 9000), report=False)
    return Ledger(area, runs, runs[1], now)
