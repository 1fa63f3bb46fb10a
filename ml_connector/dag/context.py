"""One DAG run as the tasks see it: who it is, what its params and data interval say, its mapping, its
files, and the window and watermark rules applied to it (:mod:`ml_connector.window`)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ml_connector.audit.trail import AuditTrail
from ml_connector.errors import ConnectorError, Remedy
from ml_connector.mapping import SyncMapping
from ml_connector.staging.area import StagingArea
from ml_connector.staging.files import RunFiles, StateFiles
from ml_connector.vocabulary import MODES, Entity, Mode
from ml_connector.window import UpdateWindow, next_watermark, resolve_window, run_kind

log = logging.getLogger("ml_connector.sync")


class InvalidRunParams(ConnectorError, ValueError):
    """The run was triggered with params that contradict each other: trigger it again with others."""

    remedy = Remedy.PERSON


@dataclass(frozen=True)
class RunContext:
    """One DAG run as the tasks see it: identity, params, data interval, mapping and staging."""

    dag_id: str
    run_id: str
    mapping: SyncMapping
    area: StagingArea
    mode: Mode
    dry_run: bool = False
    updated_from: str | None = None
    updated_to: str | None = None
    interval_start: datetime | None = None
    interval_end: datetime | None = None
    run_after: datetime = field(default_factory=lambda: datetime.now(UTC))
    run_type: str = "manual"
    repair_duplicates: bool = False
    workday_conn_id: str = "workday_default"
    pipedrive_conn_id: str = "pipedrive_default"
    task_id: str = ""
    try_number: int = 1

    @property
    def entity(self) -> Entity:
        return self.mapping.entity

    @classmethod
    def from_airflow(
        cls, mapping: SyncMapping, context: Mapping[str, Any], area: StagingArea | None = None
    ) -> RunContext:
        """Build from a task's context; a manual run may have no logical date, so nothing here requires one."""
        params = dict(context.get("params") or {})
        mode = str(params.get("mode") or "incremental")
        if mode not in MODES:
            raise InvalidRunParams(f"param mode must be one of {', '.join(MODES)}, got {mode!r}")
        repair = bool(params.get("repair_duplicates", False))
        if repair and mode != "reconcile":
            raise InvalidRunParams(
                f"param repair_duplicates needs mode reconcile (whose full listing finds the duplicates), "
                f"not {mode}: trigger the run again with mode reconcile"
            )
        dag_run = context["dag_run"]
        ti = context.get("ti")
        return cls(
            dag_id=context["dag"].dag_id,
            run_id=dag_run.run_id,
            mapping=mapping,
            area=area or StagingArea(),
            mode=mode,  # checked against MODES above
            dry_run=bool(params.get("dry_run", False)),
            repair_duplicates=repair,
            updated_from=params.get("updated_from") or None,
            updated_to=params.get("updated_to") or None,
            interval_start=context.get("data_interval_start"),
            interval_end=context.get("data_interval_end"),
            run_after=dag_run.run_after or datetime.now(UTC),
            run_type=str(getattr(dag_run.run_type, "value", dag_run.run_type) or "manual"),
            task_id=str(getattr(ti, "task_id", "") or ""),
            try_number=int(getattr(ti, "try_number", 1) or 1),
        )

    @property
    def files(self) -> RunFiles:
        """This run's hand-off files."""
        return RunFiles(self.area, self.dag_id, self.run_id)

    @property
    def state(self) -> StateFiles:
        return StateFiles(self.area)

    @property
    def mapping_hash(self) -> str:
        """Which mapping rules this run applied: the ledger keeps it with every row."""
        return hashlib.sha256(self.mapping.model_dump_json().encode()).hexdigest()[:16]

    def trail(self) -> AuditTrail:
        """The audit trail of this task attempt."""
        return AuditTrail(
            self.area,
            dag_id=self.dag_id,
            run_id=self.run_id,
            entity=self.entity,
            dry_run=self.dry_run,
            task_id=self.task_id or "task",
            try_number=self.try_number,
            mapping_hash=self.mapping_hash,
            run_started=self.run_after,
        )

    def watermark(self) -> datetime | None:
        """End of the window the last successful run covered without a gap before it."""
        return self.state.read_watermark(self.entity)

    def window(self) -> UpdateWindow:
        """This run's window under the rules in :mod:`ml_connector.window`."""
        return resolve_window(
            mode=self.mode,
            overlap=timedelta(minutes=self.mapping.overlap_minutes),
            now=self.run_after,
            kind=run_kind(self.run_type),
            interval_start=self.interval_start,
            interval_end=self.interval_end,
            updated_from=self.updated_from,
            updated_to=self.updated_to,
            watermark=self.watermark(),
        )

    def advance_watermark(self, window: Mapping[str, Any]) -> None:
        """Move the watermark to this run's window end when the window leaves no gap after the old one."""
        old = self.watermark()
        covered = UpdateWindow.from_json(dict(window))
        moved = next_watermark(old, covered)
        if moved is None:
            if covered.start is not None and (old is None or covered.start > old):
                log.warning(
                    "watermark stays at %s: this run's window starts at %s, so it leaves a gap before it",
                    old.isoformat() if old else "none (no initial full load yet)",
                    covered.start.isoformat(),
                )
            return
        self.state.write_watermark(self.entity, moved, self.run_id)
