"""One DAG task in a process of its own, as an Airflow worker runs it, so its peak RSS is the task's.

Tasks are forked from a fork server that has only imported the connector (Airflow's workers fork from a
preloaded parent too), never from the bench process, which holds the sandbox and its data. The child
gets the environment of the moment (the connections of the running sandbox), calls the same task
function the DAG calls, and reports how long the call took and its peak RSS (``VmHWM``: interpreter and
imports included, as on a worker). Its log goes to a file, kept for when a task fails.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ml_connector.vocabulary import Mode

# task name -> (module, function): the DAG's tasks, and the baseline's load (:mod:`.naive`)
TASKS = {
    **{
        name: ("ml_connector.dag.tasks", name)
        for name in ("refresh_tokens", "validate_fields", "extract", "transform", "load", "report")
    },
    "naive_load": ("ml_connector.bench.naive", "naive_load"),
}
# What a worker has imported before it runs a task (so every task of one bench runs the code as it was
# when the bench started); a name that no longer exists is skipped.
PRELOAD = [
    "ml_connector.dag.tasks",
    "ml_connector.dag.factory",
    "ml_connector.hooks.workday",
    "ml_connector.hooks.pipedrive",
    "ml_connector.extract",
    "ml_connector.transform",
    "ml_connector.load.run",
    "ml_connector.fields",
    "ml_connector.audit",
    "ml_connector.bench.naive",
    "ml_connector.bench.worker",
]

_forks = multiprocessing.get_context("forkserver")
_forks.set_forkserver_preload(PRELOAD)


@dataclass(frozen=True)
class TaskRun:
    """What identifies one DAG run to its tasks: enough to rebuild its RunContext in another process."""

    entity: str
    run_id: str
    staging_root: str
    mode: Mode
    run_after: str
    dry_run: bool = False

    @property
    def dag_id(self) -> str:
        return f"workday_{self.entity}_to_pipedrive"


@dataclass(frozen=True)
class TaskResult:
    task: str
    started: float  # UNIX time the task function was called
    seconds: float  # the task function's own time
    peak_rss_bytes: int


class TaskFailed(RuntimeError):
    """A task ended with an error: the bench stops, as the DAG run would."""


def run_task(task: str, run: TaskRun, logs: Path) -> TaskResult:
    """Run ``task`` of ``run`` in a forked worker; its log goes to ``logs/<entity>-<n>-<task>.log``."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; one of {', '.join(TASKS)}")
    logs.mkdir(parents=True, exist_ok=True)
    stem = f"{run.entity}-{''.join(c for c in run.run_id if c.isdigit())}-{task}"
    result_file, log_file = logs / f"{stem}.json", logs / f"{stem}.log"
    child = _forks.Process(
        target=_child,
        args=(task, asdict(run), dict(os.environ), str(result_file), str(log_file)),
        name=f"bench-{task}",
    )
    child.start()
    child.join()
    if child.exitcode != 0:
        tail = log_file.read_text(encoding="utf-8", errors="replace")[-3000:] if log_file.exists() else ""
        raise TaskFailed(f"{task} of {run.dag_id} {run.run_id} exited with {child.exitcode}:\n{tail}")
    return TaskResult(**json.loads(result_file.read_text(encoding="utf-8")))


def peak_rss_bytes() -> int:
    """This process's high-water RSS: ``VmHWM`` on Linux, else ``ru_maxrss``."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def _context(task: str, run: TaskRun) -> Any:
    from ml_connector.dag.context import RunContext
    from ml_connector.dag.factory import mapping_path
    from ml_connector.mapping import load_mapping
    from ml_connector.staging.area import StagingArea

    return RunContext(
        dag_id=run.dag_id,
        run_id=run.run_id,
        mapping=load_mapping(mapping_path(run.entity)),
        area=StagingArea(run.staging_root),
        mode=run.mode,
        dry_run=run.dry_run,
        run_after=datetime.fromisoformat(run.run_after),
        task_id=task,
    )


def _child(task: str, run: dict[str, Any], env: dict[str, str], result_file: str, log_file: str) -> None:
    import importlib
    import logging

    module, function = TASKS[task]
    os.environ.clear()
    os.environ.update(env)
    with open(log_file, "w", encoding="utf-8") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    ctx = _context(task, TaskRun(**run))
    started, clock = time.time(), time.perf_counter()
    getattr(importlib.import_module(module), function)(ctx)
    seconds = time.perf_counter() - clock
    result = TaskResult(task, started, round(seconds, 3), peak_rss_bytes())
    Path(result_file).write_text(json.dumps(asdict(result)), encoding="utf-8")
