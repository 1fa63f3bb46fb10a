"""What one load did (its counts), and what makes a run incomplete although every task ran."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ml_connector.errors import ConnectorError, Remedy
from ml_connector.vocabulary import RecordKind

if TYPE_CHECKING:
    from ml_connector.audit.trail import AuditTrail

log = logging.getLogger(__name__)


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


# A record row's action, as the KindCounts field it adds to.
COUNTER = {
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
        name = COUNTER.get(action)
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
    log.warning("run %s deferred: %s; the next run reads this window again", trail.run_id, reason)
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


def summary_table(summary: LoadSummary) -> str:
    """The counts as a Markdown table (the report task logs it; the README and doc_md show one)."""
    names = list(KindCounts.model_fields)
    lines = [
        "| | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for label, counts in (("organizations", summary.organizations), ("persons", summary.persons)):
        values = counts.model_dump()
        lines.append(f"| {label} | " + " | ".join(str(values[n]) for n in names) + " |")
    return "\n".join(lines)
