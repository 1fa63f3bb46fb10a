"""Every file the product keeps, named in one place, with typed reads and writes.

Per run, under ``runs/<dag_id>/<run_id>/`` (hand-offs between tasks, removed after ``retention_days``):

==========================  ==========================================================  =================
file                        what                                                        written by
==========================  ==========================================================  =================
``fields.json``             the field resolution ``validate_field_definitions`` made    validate, load
``extracted_*.parquet``     Workday records of the run's window, and all contacts       extract
``extract.json``            the window read, counts, records that could not be read     extract
``transformed_*.parquet``   organization and person rows                                transform
``rejected.parquet``        records set aside, with the reason                          transform
``plan.parquet``            what the load did (or, on a dry run, would do) per record   load
``summary.json``            the load's counts                                           load
``alerts_sent.json``        the causes the report alerted on (a retried report repeats none)  report
==========================  ==========================================================  =================

State, under ``state/`` (outlives runs): ``<entity>/watermark.json``, ``suppliers/org_aliases.json``,
``fields/pinned.json``, ``<organizations|persons>/identity.parquet``, ``<entity>/pushed_<kind>s.parquet``,
``<entity>/deferred.parquet``, ``<entity>/journal/<run>.jsonl``, ``leases/<name>/<epoch>.json`` and
``<epoch>.beat.json`` (:mod:`ml_connector.load.lease`). The audit ledger, under ``ledger/``, is :mod:`ml_connector.audit.ledger`'s.
The storage itself (atomic writes, object stores, retention)
is :class:`ml_connector.staging.StagingArea`'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from airflow.sdk import ObjectStoragePath

from ml_connector.staging.area import StagingArea, safe_segment
from ml_connector.vocabulary import PLURAL, RecordKind

RunTable = Literal[
    "extracted_organizations",
    "extracted_contacts",
    "transformed_organizations",
    "transformed_persons",
    "rejected",
    "plan",
]
RunDocument = Literal["fields", "extract", "summary", "alerts_sent"]


@dataclass(frozen=True)
class RunFiles:
    """The hand-off files of one DAG run."""

    area: StagingArea
    dag_id: str
    run_id: str

    def table_path(self, name: RunTable) -> ObjectStoragePath:
        return self.area.stage_path(self.dag_id, self.run_id, name)

    def has_table(self, name: RunTable) -> bool:
        return bool(self.table_path(name).exists())

    def read_table(self, name: RunTable) -> pa.Table:
        return self.area.read_table(self.table_path(name))

    def write_table(self, name: RunTable, table: pa.Table) -> None:
        self.area.write_table(self.table_path(name), table)

    def table_writer(self, name: RunTable, schema: pa.Schema) -> AbstractContextManager[pq.ParquetWriter]:
        """Stream ``name`` a row group at a time (:meth:`StagingArea.table_writer`)."""
        return self.area.table_writer(self.table_path(name), schema)

    def iter_batches(self, name: RunTable, *, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        return self.area.iter_batches(self.table_path(name), columns=columns)

    def read_rows(self, name: RunTable, where: pc.Expression) -> pa.Table:
        return self.area.read_rows(self.table_path(name), where)

    def count_rows(self, name: RunTable) -> int:
        return self.area.count_rows(self.table_path(name))

    def document_path(self, name: RunDocument) -> ObjectStoragePath:
        return self.area.run_dir(self.dag_id, self.run_id) / f"{name}.json"

    def read_document(self, name: RunDocument, default: Any = None) -> Any:
        return self.area.read_json(self.document_path(name), default=default)

    def write_document(self, name: RunDocument, value: Any) -> None:
        self.area.write_json(self.document_path(name), value)


def staged_runs(area: StagingArea, dag_id: str) -> list[RunFiles]:
    """The runs of ``dag_id`` whose files are still staged (their folder names stand for the run ids)."""
    runs = area.root / "runs" / safe_segment(dag_id)
    return [RunFiles(area, dag_id, p.name) for p in runs.iterdir() if p.is_dir()] if runs.exists() else []


@dataclass(frozen=True)
class StateFiles:
    """What outlives a run: watermarks, identity, pushed values, carried-over rows, journals, pins, ledger."""

    area: StagingArea

    # -- small JSON documents ----------------------------------------------------------------------------
    def read_watermark(self, entity: str) -> datetime | None:
        """End of the window the last successful run of ``entity`` covered with no gap before it."""
        value = (self.area.read_json(self.watermark_path(entity), default={}) or {}).get("updated_to")
        return datetime.fromisoformat(value) if value else None

    def write_watermark(self, entity: str, moment: datetime, run_id: str) -> None:
        self.area.write_json(
            self.watermark_path(entity), {"updated_to": moment.isoformat(), "run_id": run_id}
        )

    def watermark_path(self, entity: str) -> ObjectStoragePath:
        return self.area.state_path(entity, "watermark.json")

    def read_org_aliases(self) -> dict[str, str]:
        """Supplier_ID -> the organization key it joined (its Customer_ID for dual companies)."""
        return dict(self.area.read_json(self._aliases_path(), default={}) or {})

    def write_org_aliases(self, aliases: dict[str, str]) -> None:
        self.area.write_json(self._aliases_path(), aliases)

    def _aliases_path(self) -> ObjectStoragePath:
        return self.area.state_path("suppliers", "org_aliases.json")

    def read_duplicates_checked(self, kind: RecordKind) -> datetime | None:
        """Until when Pipedrive's ``kind`` records were last checked for duplicates (by either DAG)."""
        value = (self.area.read_json(self._checked_path(kind), default={}) or {}).get("until")
        return datetime.fromisoformat(value) if value else None

    def write_duplicates_checked(self, kind: RecordKind, moment: datetime) -> None:
        self.area.write_json(self._checked_path(kind), {"until": moment.isoformat()})

    def _checked_path(self, kind: RecordKind) -> ObjectStoragePath:
        return self.area.state_path(PLURAL[kind], "duplicates_checked.json")

    def read_conflicts(self, entity: str) -> set[str]:
        """The conflict keys the last report of ``entity`` saw (new ones raise an alert)."""
        return set(self.area.read_json(self.area.state_path(entity, "conflicts.json"), default=[]) or [])

    def write_conflicts(self, entity: str, keys: set[str]) -> None:
        self.area.write_json(self.area.state_path(entity, "conflicts.json"), sorted(keys))

    def read_token_alert_day(self) -> date | None:
        """The UTC day a token-share alert was last sent (one a day, for both DAGs: the budget is shared)."""
        value = (self.area.read_json(self._token_alert_path(), default={}) or {}).get("day")
        return date.fromisoformat(value) if value else None

    def write_token_alert_day(self, day: date) -> None:
        self.area.write_json(self._token_alert_path(), {"day": day.isoformat()})

    def _token_alert_path(self) -> ObjectStoragePath:
        return self.area.state_path("alerts", "token_share.json")

    def lease_dir(self, name: str) -> ObjectStoragePath:
        """The epochs and heartbeats of one lease (:mod:`ml_connector.load.lease`)."""
        return self.area.root / "state" / "leases" / safe_segment(name)

    @property
    def pinned_fields_path(self) -> ObjectStoragePath:
        return self.area.state_path("fields", "pinned.json")

    # -- tables and journals, read and written by ml_connector.load.state and ml_connector.audit -----------
    def identity_path(self, kind: RecordKind) -> ObjectStoragePath:
        return self.area.state_path(PLURAL[kind], "identity.parquet")

    def pushed_path(self, entity: str, kind: RecordKind) -> ObjectStoragePath:
        return self.area.state_path(entity, f"pushed_{PLURAL[kind]}.parquet")

    def deferred_path(self, entity: str) -> ObjectStoragePath:
        return self.area.state_path(entity, "deferred.parquet")

    def journal_dir(self, entity: str) -> ObjectStoragePath:
        """Where unfinished loads of ``entity`` keep their write journals (one file per run)."""
        return self.area.state_path(entity, "journal")

    def journal_path(self, entity: str, run_id: str) -> ObjectStoragePath:
        return self.journal_dir(entity) / f"{safe_segment(run_id)}.jsonl"
