"""A sync-sized workload meets no 429: the hook paces itself under the plan's burst and search windows."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.sandbox import pipedrive_server

from ml_connector.hooks.pipedrive import PipedriveHook
from ml_connector.load.execute import run_concurrently
from ml_connector.sandbox.runtime import RunningSandbox


@pytest.fixture()
def growth(make_sandbox: Callable[..., RunningSandbox], monkeypatch: pytest.MonkeyPatch) -> RunningSandbox:
    sandbox = make_sandbox(pipedrive_plan="growth")
    monkeypatch.setenv("AIRFLOW_CONN_PIPEDRIVE_DEFAULT", sandbox.pipedrive_conn_uri)
    return sandbox


def test_concurrent_creates_and_listing_meet_no_429(growth: RunningSandbox) -> None:
    hook = PipedriveHook()
    # far more threads than the window needs: every one of them waits for it
    outcomes = run_concurrently(
        lambda i: hook.create("organization", {"name": f"Paced {i}"}), range(300), max_workers=16
    )
    listed = [r for page in hook.iter_pages("organization", page_size=100) for r in page]

    assert not [r for _, r in outcomes if isinstance(r, Exception)]
    assert len(listed) == 300
    s = pipedrive_server(growth).stats()
    assert "429" not in s["by_status"], s["by_status"]
    assert s["requests_total"] == 303  # none retried
    assert hook.tokens_spent == s["tokens_spent"] == 300 * 5 + 3 * 10


def test_searches_stay_under_ten_per_two_seconds(growth: RunningSandbox) -> None:
    hooks = [PipedriveHook(), PipedriveHook()]  # two hooks of one connection share the windows
    # A burst of writes first: the search threads then queue behind the general window and are
    # released in bunches, the pattern most likely to slip past the server's window.
    run_concurrently(lambda i: hooks[0].create("organization", {"name": f"W{i}"}), range(60))
    hooks[0].create("organization", {"name": "Findable"})
    outcomes = run_concurrently(
        lambda i: hooks[i % 2].search("organization", "Findable"), range(25), max_workers=4
    )
    assert all(not isinstance(r, Exception) and len(r) == 1 for _, r in outcomes)
    s = pipedrive_server(growth).stats()
    assert "429" not in s["by_status"], s["by_status"]
    assert s["by_route"]["GET /api/v2/organizations/search"] == 25
