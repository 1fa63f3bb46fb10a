"""A sandbox with the DAG's connections pointed at it, and DAG runs of the real tasks against it.

A run is its tasks one after another, each in a process of its own (:mod:`.worker`), as Airflow runs
them; what a run cost is read from the sandbox's own statistics before and after, over HTTP, so nothing
the connector reports about itself is taken on trust.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from cryptography.fernet import Fernet

from ml_connector.bench.worker import TaskResult, TaskRun, run_task
from ml_connector.sandbox.config import SandboxConfig
from ml_connector.sandbox.runtime import RunningSandbox, run_sandbox
from ml_connector.staging.area import StagingArea
from ml_connector.staging.files import RunFiles
from ml_connector.vocabulary import Mode

SYNC_TASKS = ("validate_fields", "extract", "transform", "load", "report")
COLUMNS = ("read", "created", "updated", "unchanged", "rejected", "conflicts", "deferred")


def control(url: str, method: str, path: str, body: Any = None) -> Any:
    """``METHOD /_sandbox<path>`` on one sandbox server; raises on an error status."""
    response = requests.request(method, f"{url}/_sandbox{path}", json=body, timeout=120)
    response.raise_for_status()
    return response.json()


@dataclass(frozen=True)
class DagRun:
    """One DAG run as the bench saw it: its tasks, its load summary, and what each API counted."""

    entity: str
    mode: str
    tasks: list[TaskResult]
    summary: dict[str, Any]
    pipedrive_requests: int
    pipedrive_tokens: int
    pipedrive_by_route: dict[str, int]
    workday_requests: int
    seconds: float  # wall time of the whole run, process starts included

    def count(self, column: str) -> int:
        """A load-summary column (``created``, ``updated``, ...) over organizations and persons."""
        return sum(
            int((self.summary.get(kind) or {}).get(column, 0)) for kind in ("organizations", "persons")
        )

    @property
    def written(self) -> int:
        return self.count("created") + self.count("updated")

    def task(self, name: str) -> TaskResult:
        return next(t for t in self.tasks if t.task == name)


@dataclass
class World:
    """A running sandbox, its connections in ``os.environ`` and a staging area of its own."""

    sandbox: RunningSandbox
    workdir: Path
    oauth: bool
    _runs: int = field(default=0)

    @property
    def staging_root(self) -> str:
        return f"file://{self.workdir / 'staging'}"

    def pipedrive_stats(self) -> dict[str, Any]:
        return dict(control(self.sandbox.pipedrive_url, "GET", "/stats"))

    def workday_stats(self) -> dict[str, Any]:
        return dict(control(self.sandbox.workday_url, "GET", "/stats"))

    def mutate(self, **spec: int) -> dict[str, Any]:
        return dict(control(self.sandbox.workday_url, "POST", "/workday/mutate", spec))

    def workday_summary(self) -> dict[str, Any]:
        return dict(control(self.sandbox.workday_url, "GET", "/workday/summary"))

    def run(
        self, entity: str, mode: Mode, *, dry_run: bool = False, tasks: Sequence[str] = SYNC_TASKS
    ) -> DagRun:
        """One DAG run of ``entity``; each run gets its own run id and a ``run_after`` of now."""
        self._runs += 1
        # a whole second past the last run, so windows and run ids never tie
        now = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=self._runs)
        run = TaskRun(
            entity=entity,
            run_id=f"manual__{now.isoformat()}",
            staging_root=self.staging_root,
            mode=mode,
            run_after=now.isoformat(),
            dry_run=dry_run,
        )
        pd_before, wd_before = self.pipedrive_stats(), self.workday_stats()
        started = time.perf_counter()
        results = [run_task(task, run, self.workdir / "logs") for task in tasks]
        seconds = time.perf_counter() - started
        pd_after, wd_after = self.pipedrive_stats(), self.workday_stats()
        by_route = {
            route: n - int(pd_before["by_route"].get(route, 0))
            for route, n in pd_after["by_route"].items()
            if n != pd_before["by_route"].get(route, 0)
        }
        summary = RunFiles(StagingArea(run.staging_root), run.dag_id, run.run_id).read_document("summary")
        return DagRun(
            entity=entity,
            mode=mode,
            tasks=results,
            summary=dict(summary or {}),
            pipedrive_requests=pd_after["requests_total"] - pd_before["requests_total"],
            pipedrive_tokens=int(pd_after.get("tokens_spent", 0)) - int(pd_before.get("tokens_spent", 0)),
            pipedrive_by_route=by_route,
            workday_requests=wd_after["requests_total"] - wd_before["requests_total"],
            seconds=round(seconds, 2),
        )


@contextmanager
def connections(sandbox: RunningSandbox, state_dir: Path, *, oauth: bool) -> Iterator[None]:
    """The hooks' connections (``AIRFLOW_CONN_*``) pointed at ``sandbox``, with a token vault of its own;
    child processes inherit them."""
    saved = dict(os.environ)
    os.environ.update(
        {
            "AIRFLOW_CONN_WORKDAY_DEFAULT": sandbox.workday_conn_uri,
            "AIRFLOW_CONN_PIPEDRIVE_DEFAULT": (
                sandbox.pipedrive_oauth_conn_uri if oauth else sandbox.pipedrive_conn_uri
            ),
            "ML_CONNECTOR_FERNET_KEYS": Fernet.generate_key().decode(),
            "ML_CONNECTOR_STATE_DIR": str(state_dir),
        }
    )
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def world(config: SandboxConfig, *, oauth: bool = True) -> Iterator[World]:
    """A fresh sandbox (empty Pipedrive, seeded Workday) and a private working folder for its runs."""
    with (
        tempfile.TemporaryDirectory(prefix="ml-connector-bench-") as tmp,
        run_sandbox(config) as sandbox,
        connections(sandbox, Path(tmp) / "state", oauth=oauth),
    ):
        yield World(sandbox, Path(tmp), oauth)
