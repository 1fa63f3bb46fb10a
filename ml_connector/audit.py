"""The audit trail of a load: one ledger row and one log line per record decision or incident.

The ledger (``ledger/<entity>/<YYYY-MM-DD>/<run>.parquet`` under the staging root) answers "what did
the connector do to Pipedrive record X, when, and why" long after the run's staging files are gone.
Rows carry keys, Pipedrive ids and field *names* only: never field values, so no personal data or
secret reaches the ledger or the log.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from pydantic import BaseModel

from ml_connector.errors import ConnectorError, Remedy
from ml_connector.staging.area import StagingArea
from ml_connector.staging.files import StateFiles
from ml_connector.vocabulary import RecordKind

log = logging.getLogger(__name__)

LEDGER_SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("us", tz="UTC")),
        ("dag_id", pa.string()),
        ("run_id", pa.string()),
        ("entity", pa.string()),
        ("kind", pa.string()),
        ("key", pa.string()),
        ("pipedrive_id", pa.int64()),
        ("action", pa.string()),
        ("fields_changed", pa.list_(pa.string())),
        ("reason", pa.string()),
        ("tokens", pa.int64()),
        ("dry_run", pa.bool_()),
    ]
)


def log_value(value: Any) -> str:
    """A ``key=value`` value: bare when it is one token, else JSON-quoted."""
    text = str(value)
    if text and all(c.isalnum() or c in "-_.:/+" for c in text):
        return text
    return json.dumps(text, ensure_ascii=False)


class AuditTrail:
    """Collects ledger rows of one run (thread-safe), logs each as it happens, writes them on ``flush``."""

    def __init__(
        self, area: StagingArea, *, dag_id: str, run_id: str, entity: str, dry_run: bool = False
    ) -> None:
        self.area = area
        self.dag_id = dag_id
        self.run_id = run_id
        self.entity = entity
        self.dry_run = dry_run
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @property
    def rows(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._rows)

    def record(
        self,
        kind: str,
        key: str,
        action: str,
        *,
        pipedrive_id: int | None = None,
        fields: Iterable[str] = (),
        reason: str = "",
        tokens: int = 0,
    ) -> None:
        row = {
            "ts": datetime.now(UTC),
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "entity": self.entity,
            "kind": kind,
            "key": key,
            "pipedrive_id": pipedrive_id,
            "action": action,
            "fields_changed": sorted(fields),
            "reason": reason,
            "tokens": tokens,
            "dry_run": self.dry_run,
        }
        with self._lock:
            self._rows.append(row)
        log.log(logging.WARNING if action in ("conflict", "failed") else logging.INFO, "%s", audit_line(row))

    def flush(self) -> Any:
        """Write this run's rows, after the rows an earlier attempt of the same run left for today."""
        day = datetime.now(UTC).date()
        path = StateFiles(self.area).ledger_path(self.entity, day, self.run_id)
        with self._lock:
            rows = list(self._rows)
        table = pa.Table.from_pylist(rows, schema=LEDGER_SCHEMA)
        if path.exists():
            table = pa.concat_tables([self.area.read_table(path).cast(LEDGER_SCHEMA), table])
        self.area.write_table(path, table)
        return path


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
    if row["dry_run"]:
        parts.append("dry_run=true")
    if row["reason"]:
        parts.append(f"reason={log_value(row['reason'])}")
    return "audit " + " ".join(parts)


# -- the summary --------------------------------------------------------------------------------------------
class KindCounts(BaseModel):
    """Per kind: rows read (this run's plus carried over) and what became of them."""

    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: int = 0
    conflicts: int = 0
    merged: int = 0  # duplicates merged into the oldest record (reconcile with repair_duplicates)
    deferred: int = 0
    failed: int = 0


_COUNTER = {
    "create": "created",
    "update": "updated",
    "unchanged": "unchanged",
    "skip": "skipped",
    "rejected": "rejected",
    "conflict": "conflicts",
    "merge": "merged",
    "deferred": "deferred",
    "failed": "failed",
}


class LoadSummary(BaseModel):
    """What one load did; ``requests`` counts the API operations the load issued (retries not counted)
    and ``tokens_spent`` what Pipedrive charged for them. On a dry run the counts are what the plan
    would do. Stored as staging step ``summary`` (JSON)."""

    dag_id: str
    run_id: str
    entity: str
    mode: str
    dry_run: bool
    organizations: KindCounts = KindCounts()
    persons: KindCounts = KindCounts()
    requests: int = 0
    tokens_spent: int = 0
    budget_exhausted: bool = False
    deferred_run: bool = False  # the budget ran out before planning: nothing was written
    resumed: bool = False

    def count(self, kind: str, action: str, n: int = 1) -> None:
        counts = self.organizations if kind == "organization" else self.persons
        name = _COUNTER.get(action)
        if name is not None:
            setattr(counts, name, getattr(counts, name) + n)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def __str__(self) -> str:
        def part(counts: KindCounts) -> str:
            return ", ".join(f"{k} {v}" for k, v in counts.model_dump().items() if v)

        return (
            f"organizations: {part(self.organizations) or 'none'}; persons: {part(self.persons) or 'none'}; "
            f"{self.requests} requests, {self.tokens_spent} tokens"
            + ("; budget exhausted, rest deferred" if self.budget_exhausted else "")
            + ("; dry run" if self.dry_run else "")
        )


def defer_run(trail: AuditTrail, *, mode: str, read: Mapping[RecordKind, int], reason: str) -> LoadSummary:
    """The whole run is deferred before anything was planned (the daily budget is at its reserve): one
    ledger row for the run, and a summary in which every record read is deferred. The watermark stays, so
    the next run reads this window again."""
    summary = LoadSummary(
        dag_id=trail.dag_id,
        run_id=trail.run_id,
        entity=trail.entity,
        mode=mode,
        dry_run=trail.dry_run,
        budget_exhausted=True,
        deferred_run=True,
    )
    for kind, n in read.items():
        counts = summary.organizations if kind == "organization" else summary.persons
        counts.read = counts.deferred = n
    trail.record("run", trail.run_id, "deferred", reason=f"{reason}; the next run reads this window again")
    trail.flush()
    return summary


class RunIncomplete(ConnectorError):
    """The run did all it could, but records failed to write or too many were rejected: the ``report`` task
    fails so that the run is red and alerts fire. Retrying the task changes nothing; the failed records
    are carried over and written first by the next run."""

    remedy = Remedy.PERSON


def shortfall(
    summary: LoadSummary, *, failed_keys: Iterable[str], invalid_rejects: int, max_rejected_share: float
) -> str | None:
    """Why the run is not a success although every task ran, or None. ``invalid_rejects`` counts the
    rejects for a problem in the record itself; a contact whose organization was not read yet (a backfill
    window before the first full load) is reported but not held against the run. A budget deferral is not
    a shortfall."""
    problems = []
    failed = summary.organizations.failed + summary.persons.failed
    if failed:
        first = sorted(failed_keys)[:5]
        problems.append(
            f"{failed} record(s) failed to write (first: {', '.join(first)}); they are carried over to the "
            "next run, the reasons are in the ledger and the load log"
        )
    seen = summary.organizations.read + summary.persons.read
    seen += summary.organizations.rejected + summary.persons.rejected
    if seen and invalid_rejects / seen > max_rejected_share:
        problems.append(
            f"{invalid_rejects} of {seen} records were rejected as invalid ({invalid_rejects / seen:.1%}, more "
            f"than max_rejected_share {max_rejected_share:.0%}); the reasons are in the run's rejected file "
            "and the ledger"
        )
    if not problems:
        return None
    return f"run {summary.run_id} of {summary.dag_id} is incomplete: " + "; ".join(problems)
