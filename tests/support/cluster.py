"""A real Airflow deployment for tests: api-server, scheduler, dag-processor, triggerer and Celery
workers as separate processes, on PostgreSQL and Redis, driven only as an operator would (REST API v2,
the CLI).

Everything it starts is its own: a database (dropped afterwards), a Redis database number (flushed),
free ports, a home folder. :meth:`AirflowCluster.stop` ends every process group it started, also after
a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import redis
import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
TERMINAL = {"success", "failed"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def admin_sql(*statements: str) -> None:
    """Run statements (CREATE/DROP DATABASE) on the local PostgreSQL server, outside a transaction."""
    admin = psycopg2.connect(dbname="postgres", **PG)  # type: ignore[arg-type]
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        admin.close()


def artifacts_dir(name: str) -> Path:
    """``.artifacts/<name>/``, emptied: kept after the run (logs, screenshots) as CI artifacts."""
    folder = Path(os.environ.get("ML_CONNECTOR_TEST_ARTIFACTS", ROOT / ".artifacts")) / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def wait_for(what: str, check: Callable[[], Any], *, timeout: float, every: float = 1.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (requests.ConnectionError, requests.Timeout) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


@dataclass
class AirflowCluster:
    """One deployment; ``env`` is what every Airflow process of it sees (connections included)."""

    home: Path
    extra_env: Mapping[str, str]
    workers: int = 2
    api_port: int = field(default_factory=free_port)
    redis_db: int = 0
    database: str = ""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _token: str | None = None

    # -- set-up ------------------------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def env(self, **more: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "ML_CONNECTOR_"))}
        db = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{self.database}"
        return {
            **base,
            "PATH": f"{BIN}{os.pathsep}{base.get('PATH', '')}",
            "PYTHONPATH": str(ROOT / "tests"),  # for the host-name callable
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__FERNET_KEY": self._secret("fernet"),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "support.worker_name.hostname",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db,
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{self.redis_db}",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://postgres@127.0.0.1:5432/{self.database}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
            **self.extra_env,
            **more,
        }

    def _secret(self, name: str) -> str:
        path = self.home / f".{name}"
        if not path.exists():
            path.write_text(Fernet.generate_key().decode())
        return path.read_text()

    def start(self) -> None:
        """The metadata database (:meth:`prepare`), then every service, once the API answers."""
        self.prepare()
        self._spawn("api-server", "api-server", "--host", "127.0.0.1", "--port", str(self.api_port))
        self._spawn("scheduler", "scheduler")
        self._spawn("dag-processor", "dag-processor")
        self._spawn("triggerer", "triggerer")
        for n in range(1, self.workers + 1):
            self._spawn(
                f"worker-{n}",
                "celery", "worker", "--celery-hostname", f"worker-{n}@%h", "--concurrency", "2",
                env={
                    "ML_CONNECTOR_TEST_WORKER": f"worker-{n}",
                    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                },
            )  # fmt: skip
        wait_for("the API server", lambda: self._health(), timeout=180)
        wait_for("both DAGs parsed", lambda: len(self.dags()) >= 2, timeout=240, every=2)

    def prepare(self) -> None:
        """A database of its own, migrated, with the pools and the DAGs; a Redis database number of its own."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.database = f"ml_connector_cluster_{os.getpid()}"
        self.redis_db = 8 + os.getpid() % 8
        admin_sql(f'DROP DATABASE IF EXISTS "{self.database}"', f'CREATE DATABASE "{self.database}"')
        redis.Redis(host="127.0.0.1", port=6379, db=self.redis_db).flushdb()
        self.cli("db", "migrate")
        self.cli("pools", "set", "workday_api", "1", "Workday API calls (ml-connector)")
        self.cli("pools", "set", "pipedrive_api", "1", "Pipedrive API calls (ml-connector)")
        # The DAGs registered once, as a running deployment has them: two `dags test` of one DAG started
        # together on a fresh database would race to insert its row.
        self.cli("dags", "reserialize")

    def run_cli(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """An ``airflow`` command in the background (e.g. ``dags test``), its output in ``<name>.log``."""
        self._spawn(name, *args, env=env)
        return self.processes[name]

    def _spawn(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> None:
        log = open(self.home / f"{name}.log", "wb")  # noqa: SIM115 - closed by the process's end
        self.processes[name] = subprocess.Popen(
            [str(BIN / "airflow"), *args],
            env=self.env(**(env or {})),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a process group of its own: stop() ends its children too
        )

    def _health(self) -> bool:
        self._check_alive()
        return requests.get(f"{self.api_url}/api/v2/monitor/health", timeout=5).status_code == 200

    def _check_alive(self) -> None:
        dead = {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}
        if dead:
            raise RuntimeError(f"Airflow processes exited: {dead}; see their logs:\n{self.logs_tail()}")

    def logs_tail(self, lines: int = 30) -> str:
        out = []
        for name in self.processes:
            path = self.home / f"{name}.log"
            text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
            out.append(f"--- {name}\n" + "\n".join(text))
        return "\n".join(out)

    def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        for proc in self.processes.values():  # children a process left behind in its group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self.database:
            admin_sql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        redis.Redis(host="127.0.0.1", port=6379, db=self.redis_db).flushdb()

    # -- driving it --------------------------------------------------------------------------------------
    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [str(BIN / "airflow"), *args], env=self.env(), capture_output=True, text=True, timeout=300
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"airflow {' '.join(args)} failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}"
            )
        return result.stdout

    def password(self) -> str:
        return str(json.loads((self.home / "passwords.json").read_text())["admin"])

    def token(self) -> str:
        if self._token is None:
            response = requests.post(
                f"{self.api_url}/auth/token",
                json={"username": "admin", "password": self.password()},
                timeout=30,
            )
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return self._token

    def api(self, method: str, path: str, *, expect: int | tuple[int, ...] = 200, **kwargs: Any) -> Any:
        """One REST API v2 call as the admin; asserts the status and returns the JSON body."""
        self._check_alive()
        response = requests.request(
            method,
            f"{self.api_url}/api/v2{path}",
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=60,
            **kwargs,
        )
        expected = (expect,) if isinstance(expect, int) else expect
        assert response.status_code in expected, (
            f"{method} {path}: {response.status_code} {response.text[:2000]}"
        )
        return response.json() if response.content else None

    def dags(self) -> list[str]:
        return [d["dag_id"] for d in self.api("GET", "/dags")["dags"]]

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.api("GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "run_after"})["dag_runs"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        body = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return list(body["task_instances"])

    def wait_run(self, dag_id: str, run_id: str, *, timeout: float = 600) -> dict[str, Any]:
        """The run once it is finished (success or failed)."""

        def done() -> dict[str, Any] | None:
            run = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            return run if run["state"] in TERMINAL else None

        return dict(wait_for(f"run {run_id} of {dag_id} to finish", done, timeout=timeout, every=2))

    def trigger(self, dag_id: str, *, conf: dict[str, Any], logical_date: str | None = None) -> str:
        body = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": logical_date, "conf": conf})
        return str(body["dag_run_id"])
