"""Shared fixtures: a private Airflow home, the reference material, and the sandbox on free ports."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]

# Airflow reads its settings at import: point it at a throwaway home before anything imports it.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="ml-connector-airflow-"))
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"

from ml_connector.sandbox.config import SandboxConfig  # noqa: E402
from ml_connector.sandbox.runtime import RunningSandbox, run_sandbox  # noqa: E402


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The official specs and WSDL shipped beside the repository (``../shared/reference``)."""
    path = Path(os.environ.get("ML_CONNECTOR_REFERENCE", ROOT.parent / "shared" / "reference"))
    if not (path / "pipedrive" / "openapi-v2.yaml").is_file():
        pytest.fail(f"reference material not found at {path}; set ML_CONNECTOR_REFERENCE to its folder")
    return path


@pytest.fixture(scope="session")
def sandbox() -> Iterator[RunningSandbox]:
    """Both sandbox servers, shared by the session; use ``fresh_sandbox`` to start from seeded state."""
    with run_sandbox(SandboxConfig(customers=120, suppliers=60, seed=7)) as running:
        yield running


@pytest.fixture()
def fresh_sandbox(sandbox: RunningSandbox) -> RunningSandbox:
    """The shared sandbox, reset to its seeded data with no stats, faults or issued tokens."""
    for url in (sandbox.workday_url, sandbox.pipedrive_url):
        requests.post(f"{url}/_sandbox/reset", timeout=10).raise_for_status()
    return sandbox


@pytest.fixture()
def make_sandbox() -> Iterator[Callable[..., RunningSandbox]]:
    """A private sandbox with non-default settings, e.g. ``make_sandbox(pipedrive_plan="lite")``."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> RunningSandbox:
            config = SandboxConfig(**{"customers": 30, "suppliers": 15, "seed": 3, **overrides})
            return stack.enter_context(run_sandbox(config))

        yield start
