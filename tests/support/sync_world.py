"""A sync world for end-to-end tests: the sandbox, the staging area, and helpers to run a DAG through
``dag.test()`` (as a manual, scheduled or backfill run) and look at both ends."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from unittest.mock import patch

from croniter import croniter

from ml_connector.sandbox.runtime import RunningSandbox
from ml_connector.staging.area import StagingArea
from support.sandbox import PipedriveApi, pipedrive_server, workday_server


@dataclass
class SyncWorld:
    """The sandbox, the staging area and helpers to run a DAG and look at both ends."""

    sandbox: RunningSandbox
    area: StagingArea
    run: Callable[..., Any]

    def pipedrive_stats(self) -> dict[str, Any]:
        return pipedrive_server(self.sandbox).stats()

    def workday(self, method: str, path: str, body: Any = None) -> Any:
        """A call to the Workday sandbox's control plane, e.g. ``("POST", "/workday/mutate", {...})``."""
        return workday_server(self.sandbox).control(method, path, body)

    def pipedrive(self, method: str, path: str, body: Any = None) -> Any:
        return pipedrive_server(self.sandbox).control(method, path, body)

    def records(self, kind: str) -> list[dict[str, Any]]:
        """Every live Pipedrive organization or person, straight from the API."""
        with PipedriveApi(self.sandbox) as api:
            return api.records(kind)

    def field_key(self, kind: str, name: str) -> str:
        with PipedriveApi(self.sandbox) as api:
            return api.field_code(kind, name)

    def duplicates(self, kind: str, field_name: str) -> dict[str, int]:
        key = self.field_key("organization" if kind == "organizations" else "person", field_name)
        counts = Counter(r["custom_fields"].get(key) for r in self.records(kind))
        return {k: n for k, n in counts.items() if n > 1}

    def summary(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.area.read_json(self.area.run_dir(dag_id, run_id) / "summary.json"))

    def extract_meta(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.area.read_json(self.area.run_dir(dag_id, run_id) / "extract.json"))


@contextmanager
def as_run_type(run_type: str, dag: Any, logical_date: datetime) -> Iterator[None]:
    """``dag.test()`` always creates a manual run; this makes it create the run the scheduler (or a
    backfill) creates for ``logical_date``: that run type, its run id and the timetable's interval."""
    from airflow.models import dagrun
    from airflow.sdk.definitions.timetables.interval import CronDataIntervalTimetable
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType
    from sqlalchemy import select

    kind = DagRunType(run_type)
    timetable = dag.timetable
    assert isinstance(timetable, CronDataIntervalTimetable)
    start = logical_date
    end = croniter(timetable.expression, start).get_next(datetime)

    def create(*, dag: Any, session: Any, logical_date: datetime, **kwargs: Any) -> Any:
        existing = session.scalar(
            select(dagrun.DagRun).where(
                dagrun.DagRun.dag_id == dag.dag_id, dagrun.DagRun.logical_date == logical_date
            )
        )
        if existing:
            session.delete(existing)
            session.commit()
        return dag.create_dagrun(
            run_id=dagrun.DagRun.generate_run_id(run_type=kind, logical_date=start, run_after=end),
            logical_date=logical_date,
            data_interval=(start, end),
            run_after=end,
            conf=kwargs["conf"],
            run_type=kind,
            state=DagRunState.RUNNING,
            triggered_by=kwargs["triggered_by"],
            triggering_user_name=kwargs["triggering_user_name"],
            start_date=kwargs["start_date"],
            session=session,
        )

    with patch.object(dagrun, "get_or_create_dagrun", create):
        yield


def task_states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()}


def route_count(stats: dict[str, Any], route: str) -> int:
    """Requests to one route in a ``stats()`` answer, 0 where none came."""
    return int(stats["by_route"].get(route, 0))


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
