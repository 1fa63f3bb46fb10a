"""Fixtures of the fault matrix: one small sandbox for the module, a fresh world (connections, state,
staging) per cell, DAG runs with one Airflow retry, and the table the run writes."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from support.sandbox import pipedrive_server, workday_server

from ml_connector.http.retry import RetryPolicy
from ml_connector.sandbox.config import SandboxConfig
from ml_connector.sandbox.runtime import RunningSandbox, run_sandbox


@pytest.fixture(scope="module")
def fault_sandbox() -> Iterator[RunningSandbox]:
    """A small tenant (8 customers, 4 suppliers) and an empty Pipedrive; each cell resets both."""
    config = SandboxConfig(customers=8, suppliers=4, seed=11, pipedrive_plan="ultimate", pipedrive_seats=2)
    with run_sandbox(config) as running:
        yield running


@pytest.fixture()
def reset_sandbox(fault_sandbox: RunningSandbox) -> RunningSandbox:
    workday_server(fault_sandbox).reset()
    pipedrive_server(fault_sandbox).reset()
    return fault_sandbox


def fast_policy() -> RetryPolicy:
    """The production retry decisions (what is retried, the server's wait hints honoured), with few
    attempts and millisecond backoff, so a fault that outlasts the retries costs a second, not minutes."""
    return RetryPolicy(
        max_attempts=3, max_total_s=30.0, base_delay_s=0.02, max_delay_s=0.1, rng=random.Random(0)
    )


@pytest.fixture()
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hooks built by the DAG's tasks take the default policy; here it is the fast one (timing only)."""
    import ml_connector.credentials.oauth as oauth
    import ml_connector.http.client as client

    monkeypatch.setattr(client, "RetryPolicy", fast_policy)
    monkeypatch.setattr(oauth, "DEFAULT_REFRESH_POLICY", fast_policy())
