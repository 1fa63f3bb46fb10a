"""Shared fixtures: a private Airflow home and metadata database, and the sandbox on free ports."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _metadata_db(home: str) -> str:
    """PostgreSQL, as production Airflow uses it, in a database of this session's own; SQLite only
    where no server answers (a bare developer machine)."""
    if url := os.environ.get("ML_CONNECTOR_TEST_DB_URL"):
        return url
    try:
        import psycopg2

        admin = psycopg2.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=2
        )
    except Exception:
        return f"sqlite:///{home}/airflow.db"
    name = f"ml_connector_test_{os.getpid()}"
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    _CREATED_DATABASES.append(name)
    return f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"


_CREATED_DATABASES: list[str] = []

# Airflow reads its settings at import: point it at a throwaway home before anything imports it.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="ml-connector-airflow-"))
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = _metadata_db(os.environ["AIRFLOW_HOME"])

from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse, Response  # noqa: E402
from starlette.routing import Route  # noqa: E402
from support.sandbox import pipedrive_server, workday_server  # noqa: E402

from ml_connector.sandbox.config import SandboxConfig  # noqa: E402
from ml_connector.sandbox.control import ControlPlane, FaultSpec  # noqa: E402
from ml_connector.sandbox.oauth import TokenIssuer  # noqa: E402
from ml_connector.sandbox.runtime import RunningSandbox, ServerThread, run_sandbox  # noqa: E402


@pytest.fixture(scope="session")
def sandbox() -> Iterator[RunningSandbox]:
    """Both sandbox servers, shared by the session; use ``fresh_sandbox`` to start from seeded state."""
    with run_sandbox(SandboxConfig(customers=120, suppliers=60, seed=7)) as running:
        yield running


@pytest.fixture()
def fresh_sandbox(sandbox: RunningSandbox) -> RunningSandbox:
    """The shared sandbox, reset to its seeded data with no stats, faults or issued tokens."""
    workday_server(sandbox).reset()
    pipedrive_server(sandbox).reset()
    return sandbox


@pytest.fixture()
def make_sandbox() -> Iterator[Callable[..., RunningSandbox]]:
    """A private sandbox with non-default settings, e.g. ``make_sandbox(pipedrive_plan="lite")``."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> RunningSandbox:
            config = SandboxConfig(**{"customers": 30, "suppliers": 15, "seed": 3, **overrides})
            return stack.enter_context(run_sandbox(config))

        yield start


@pytest.fixture()
def probe_server() -> Iterator[str]:
    """A minimal server behind the sandbox control plane: ``GET /items/{item_id}`` and a bearer-only
    ``GET /protected`` (token ``good``), for testing the control plane and the HTTP client alone."""

    def status(fault: FaultSpec, key: str) -> Response:
        return JSONResponse({"error": f"fault on {key}"}, status_code=fault.status)

    def expired(fault: FaultSpec, key: str) -> Response:
        return JSONResponse({"error": "token expired"}, status_code=401)

    control = ControlPlane("probe", status_response=status, expired_token_response=expired)
    control.attach_issuer(TokenIssuer(client_id="c", client_secret="s", refresh_token="r"))

    async def item(request: Request) -> Response:
        return JSONResponse({"id": int(request.path_params["item_id"]), "padding": "x" * 200})

    async def protected(request: Request) -> Response:
        if request.headers.get("authorization") != "Bearer good":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return JSONResponse({"ok": True})

    app = control.build_app(
        [Route("/items/{item_id}", item, methods=["GET"]), Route("/protected", protected, methods=["GET"])]
    )
    thread = ServerThread(app).start()
    try:
        yield thread.url
    finally:
        thread.stop()


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[str]:
    """A freshly initialised Airflow metadata database for tests that run DAGs."""
    from airflow.utils import db

    db.resetdb()
    yield os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drop this session's PostgreSQL database (connections are closed first)."""
    if not _CREATED_DATABASES:
        return
    try:
        from airflow import settings

        settings.dispose_orm()
        import psycopg2

        admin = psycopg2.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=2
        )
        admin.autocommit = True
        with admin.cursor() as cur:
            for name in _CREATED_DATABASES:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    except Exception as exc:  # cleanup must never turn a green run red
        print(f"could not drop the test databases {_CREATED_DATABASES}: {exc}")
