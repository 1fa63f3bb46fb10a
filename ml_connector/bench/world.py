"""A sandbox with the DAG's connections pointed at it, and DAG runs of the real tasks against it.

A run is its tasks one after another, each in a process of its own (:mod:`.worker`), as Airflow runs
them; what a run cost is read from the sandbox's own statistics before and after, over HTTP, so nothing
the connector reports about itself is taken on trust.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import requests
from cryptography.fernet import Fernet

from ml_connector.bench.worker import TaskResult, TaskRun, run_task
from ml_connector.sandbox.config import SandboxConfig, pipedrive_connection_uri, workday_connection_uri
from ml_connector.sandbox.runtime import RunningSandbox, run_sandbox
from ml_connector.staging.area import StagingArea
from ml_connector.staging.files import RunFiles
from ml_connector.vocabulary import Mode

SYNC_TASKS = ("validate_fields", "extract", "transform", "load", "report")


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


@dataclass(frozen=True)
class Endpoints:
    """Where a running sandbox answers, in this process or another one."""

    config: SandboxConfig
    workday_url: str
    pipedrive_url: str

    @classmethod
    def of(cls, sandbox: RunningSandbox) -> Endpoints:
        return cls(sandbox.config, sandbox.workday_url, sandbox.pipedrive_url)

    @property
    def workday_conn_uri(self) -> str:
        return workday_connection_uri(self.workday_url, self.config.workday)

    def pipedrive_conn_uri(self, *, oauth: bool) -> str:
        c = self.config
        return pipedrive_connection_uri(
            self.pipedrive_url, c.pipedrive, c.pipedrive_plan, c.pipedrive_seats, oauth=oauth
        )


class SandboxProcess:
    """A sandbox served from a process of its own, started ahead of use: a large tenant is generated
    while earlier scenarios run, and its memory and interpreter lock stay out of the bench's."""

    def __init__(self, config: SandboxConfig) -> None:
        spawn = multiprocessing.get_context("spawn")
        self.config = config
        self._conn, child_conn = spawn.Pipe()
        self._process = spawn.Process(
            target=_serve, args=(config, child_conn), name="bench-sandbox", daemon=True
        )
        self._process.start()
        self._endpoints: Endpoints | None = None

    def endpoints(self) -> Endpoints:
        """Wait until both servers answer, then where."""
        if self._endpoints is None:
            workday_url, pipedrive_url = self._conn.recv()
            self._endpoints = Endpoints(self.config, workday_url, pipedrive_url)
        return self._endpoints

    def stop(self) -> None:
        if self._process.is_alive():
            self._conn.send("stop")
            self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.terminate()


def _serve(config: SandboxConfig, conn: Connection) -> None:
    with run_sandbox(config) as sandbox:
        conn.send((sandbox.workday_url, sandbox.pipedrive_url))
        conn.recv()  # until told to stop (or the bench is gone)


@dataclass
class World:
    """A running sandbox, its connections in ``os.environ`` and a staging area of its own."""

    sandbox: Endpoints
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
def connections(sandbox: Endpoints, state_dir: Path, *, oauth: bool) -> Iterator[None]:
    """The hooks' connections (``AIRFLOW_CONN_*``) pointed at ``sandbox``, with a token vault of its own;
    child processes inherit them."""
    saved = dict(os.environ)
    os.environ.update(
        {
            "AIRFLOW_CONN_WORKDAY_DEFAULT": sandbox.workday_conn_uri,
            "AIRFLOW_CONN_PIPEDRIVE_DEFAULT": sandbox.pipedrive_conn_uri(oauth=oauth),
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
def world(
    config: SandboxConfig, *, oauth: bool = True, started: SandboxProcess | None = None
) -> Iterator[World]:
    """A fresh sandbox (empty Pipedrive, seeded Workday) and a private working folder for its runs; the
    sandbox serves from this process, or from ``started`` (then stopped on exit)."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ml-connector-bench-")))
        if started is None:
            endpoints = Endpoints.of(stack.enter_context(run_sandbox(config)))
        else:
            stack.callback(started.stop)
            endpoints = started.endpoints()
        stack.enter_context(connections(endpoints, tmp / "state", oauth=oauth))
        yield World(endpoints, tmp, oauth)
