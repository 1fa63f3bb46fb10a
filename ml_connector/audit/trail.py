"""One task's audit trail: a ledger row and a log line for every record decision, incident, token
refresh, and the task itself; written on :meth:`AuditTrail.flush` as that task's ledger file.

Rows carry keys, Pipedrive ids and field names; the before → after values of company master data
(organizations), never a person's values (:func:`changes_json`), never a credential.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from ml_connector.audit import events, ledger
from ml_connector.scrub import scrub
from ml_connector.staging.area import StagingArea
from ml_connector.staging.spool import Spool

log = logging.getLogger("ml_connector.audit")

# (field, before, after) of one changed field
FieldChange = tuple[str, Any, Any]
# Rows kept as Python dicts before they become columns.
BATCH_ROWS = 2_000
# Fields of a person that are not personal data: the organization it belongs to is an id.
NOT_PERSONAL = frozenset({"org_id"})


def log_value(value: Any) -> str:
    """A ``key=value`` value: bare when it is one token, else JSON-quoted."""
    text = str(value)
    if text and all(c.isalnum() or c in "-_.:/+" for c in text):
        return text
    return json.dumps(text, ensure_ascii=False)


def changes_json(kind: str, changes: Sequence[FieldChange]) -> str | None:
    """The ledger's ``changes``: before and after of each field; for a person only that it changed."""
    if not changes:
        return None
    items: list[dict[str, Any]] = []
    for field, before, after in changes:
        if kind == "person" and field not in NOT_PERSONAL:
            items.append({"field": field, "personal": True})
        else:
            items.append({"field": field, "before": before, "after": after})
    return json.dumps(items, ensure_ascii=False, default=str, sort_keys=True)


class AuditTrail:
    """Collects the ledger rows of one task attempt (thread-safe), logs each as it happens."""

    def __init__(
        self,
        area: StagingArea,
        *,
        dag_id: str,
        run_id: str,
        entity: str,
        dry_run: bool = False,
        task_id: str = "load",
        try_number: int = 1,
        mapping_hash: str = "",
        run_started: datetime | None = None,
    ) -> None:
        self.area = area
        self.dag_id = dag_id
        self.run_id = run_id
        self.entity = entity
        self.dry_run = dry_run
        self.task_id = task_id
        self.try_number = try_number
        self.mapping_hash = mapping_hash
        self._pending: list[dict[str, Any]] = []  # the newest rows, until there are a batch of them
        self._spool = Spool(ledger.LEDGER_SCHEMA)  # the older ones: a load's rows never pile up in memory
        self._lock = threading.Lock()
        self._earlier: list[dict[str, Any]] | None = None
        self.run_started = run_started
        self.folded = False  # earlier rows came from the monthly files: drop them there after the flush

    @property
    def rows(self) -> list[dict[str, Any]]:
        return list(self.table().to_pylist())

    def table(self) -> pa.Table:
        """Every row so far, as :data:`ml_connector.audit.ledger.LEDGER_SCHEMA`."""
        with self._lock:
            self._compact()
            return self._spool.table()

    def _compact(self) -> None:
        if self._pending:
            self._spool.append(ledger.to_table(self._pending))
            self._pending = []

    def _add(self, kind: str, key: str, action: str, **values: Any) -> dict[str, Any]:
        row = {
            **ledger.empty_row(),
            "ts": datetime.now(UTC),
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "task_id": self.task_id,
            "try_number": self.try_number,
            "mapping_hash": self.mapping_hash,
            "entity": self.entity,
            "kind": kind,
            "key": key,
            "action": action,
            "fields_changed": [],
            "reason": "",
            "tokens": 0,
            "dry_run": self.dry_run,
            **values,
        }
        if row["reason"]:  # the product's own text carries no secret; a library's or a server's might
            row["reason"] = scrub(row["reason"])
        with self._lock:
            self._pending.append(row)
            if len(self._pending) >= BATCH_ROWS:
                self._compact()
        return row

    # -- records ---------------------------------------------------------------------------------------
    def record(
        self,
        kind: str,
        key: str,
        action: str,
        *,
        pipedrive_id: int | None = None,
        fields: Iterable[str] = (),
        changes: Sequence[FieldChange] = (),
        reason: str = "",
        tokens: int = 0,
        status: int | None = None,
    ) -> None:
        """One record decision (``kind`` organization or person)."""
        row = self._add(
            kind,
            key,
            action,
            pipedrive_id=pipedrive_id,
            fields_changed=sorted(fields),
            changes=changes_json(kind, changes),
            reason=reason,
            tokens=tokens,
            http_status=status,
            system="pipedrive" if status is not None or action == "failed" else None,
        )
        level = logging.WARNING if action in ("conflict", "failed") else logging.INFO
        log.log(level, "%s", audit_line(row))

    # -- incidents, refreshes, the task itself -----------------------------------------------------------
    def event(self, event: events.Event) -> None:
        """A rate-limit incident or token refresh (from :mod:`ml_connector.audit.events`)."""
        if isinstance(event, events.RateLimitIncident):
            row = self._add(
                "rate_limit",
                event.route,
                event.kind,
                system=event.system,
                http_status=event.status,
                wait_s=event.wait_s,
                reason=event.reason,
            )
        else:
            row = self._add(
                "token_refresh", event.conn_id, event.outcome, system=event.system, reason=event.reason
            )
        level = logging.INFO if row["action"] == "refreshed" else logging.WARNING
        log.log(level, "%s", audit_line(row))

    @contextmanager
    def listening(self) -> Iterator[AuditTrail]:
        """Record every incident and refresh of this process while the block runs."""
        with events.listening(self.event):
            yield self

    def task(
        self,
        action: str,
        *,
        tokens: int = 0,
        daily_tokens_left: int | None = None,
        daily_budget: int | None = None,
        reason: str = "",
        started: datetime | None = None,
    ) -> None:
        """The task attempt itself: how it ended and the Pipedrive tokens it spent (usage sums these);
        ``details`` holds when it started and how long it took."""
        now = datetime.now(UTC)
        began = started or now
        timing = {"started": began.isoformat(), "duration_s": round((now - began).total_seconds(), 3)}
        self._add(
            "task",
            self.task_id,
            action,
            tokens=tokens,
            daily_tokens_left=daily_tokens_left,
            daily_budget=daily_budget,
            reason=reason,
            details=json.dumps(timing),
        )

    def run(self, action: str, *, tokens: int, details: dict[str, Any], **figures: Any) -> dict[str, Any]:
        """The run's summary row (written by the report task)."""
        return self._add(
            "run",
            self.run_id,
            action,
            tokens=tokens,
            details=json.dumps(details, sort_keys=True, default=str),
            **figures,
        )

    # -- writing ------------------------------------------------------------------------------------------
    def _earlier_rows(self) -> list[dict[str, Any]]:
        """What earlier attempts of this task left, read once: a later flush of this attempt replaces
        its own first flush, not an earlier attempt's rows."""
        if self._earlier is None:
            self._earlier = ledger.earlier_rows(self.area, self.entity, self.run_id, self.task_id)
            if not self._earlier and self.try_number > 1 and self.run_started is not None:
                self._earlier = ledger.folded_rows(
                    self.area, self.entity, self.run_id, self.task_id, self.run_started
                )
                self.folded = bool(self._earlier)
        return self._earlier

    def earlier_writes(self) -> list[dict[str, Any]]:
        """The writes earlier attempts of this task recorded (their ledger file): they happened."""
        rows = self._earlier_rows()
        return [r for r in rows if r["action"] in ledger.WRITES and r["kind"] in ledger.RECORD_KINDS]

    def _compacted(self) -> Spool:
        with self._lock:
            self._compact()
            return self._spool

    def flush(self) -> Any:
        """Write this attempt's rows as the task's ledger file (:func:`ml_connector.audit.ledger.write_part`)."""
        return ledger.write_part(
            self.area,
            entity=self.entity,
            run_id=self.run_id,
            task_id=self.task_id,
            rows=self._compacted(),
            earlier=self._earlier_rows(),
        )


def audit_line(row: dict[str, Any]) -> str:
    """``audit action=create entity=organization key=CUS-000001 pipedrive_id=12 ...`` (no values)."""
    parts = [
        f"action={log_value(row['action'])}",
        f"entity={log_value(row['kind'])}",
        f"key={log_value(row['key'])}",
        f"pipedrive_id={row['pipedrive_id'] if row['pipedrive_id'] is not None else '-'}",
        f"dag_id={log_value(row['dag_id'])}",
        f"run_id={log_value(row['run_id'])}",
    ]
    if row["fields_changed"]:
        parts.append(f"fields={log_value(','.join(row['fields_changed']))}")
    if row["tokens"]:
        parts.append(f"tokens={row['tokens']}")
    if row.get("http_status"):
        parts.append(f"status={row['http_status']}")
    if row.get("wait_s") is not None:
        parts.append(f"wait_s={row['wait_s']:.1f}")
    if row["dry_run"]:
        parts.append("dry_run=true")
    if row["reason"]:
        parts.append(f"reason={log_value(row['reason'])}")
    return "audit " + " ".join(parts)
