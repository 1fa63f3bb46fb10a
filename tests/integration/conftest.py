"""Fixtures for the integration tests: a private credential store and hook factories."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from support.sandbox import FAST

from ml_connector.hooks.pipedrive import PipedriveHook
from ml_connector.hooks.workday import WorkdayHook
from ml_connector.sandbox.runtime import RunningSandbox


@pytest.fixture(autouse=True)
def vault_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_CONNECTOR_FERNET_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("ML_CONNECTOR_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture()
def hook(fresh_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[PipedriveHook]:
    """A PipedriveHook on ``pipedrive_default``, pointed at the fresh sandbox with its API token."""
    monkeypatch.setenv("AIRFLOW_CONN_PIPEDRIVE_DEFAULT", fresh_sandbox.pipedrive_conn_uri)
    hook = PipedriveHook(retry_policy=FAST)
    yield hook
    hook.close()


@pytest.fixture()
def workday_connect(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], WorkdayHook]]:
    """``connect(uri_or_json)`` -> a hook on ``workday_default`` with a fast retry policy."""
    hooks: list[WorkdayHook] = []

    def make(value: str) -> WorkdayHook:
        monkeypatch.setenv("AIRFLOW_CONN_WORKDAY_DEFAULT", value)
        hook = WorkdayHook(retry_policy=FAST)
        hooks.append(hook)
        return hook

    yield make
    for hook in hooks:
        hook.close()
