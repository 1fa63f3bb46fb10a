"""HttpClient over real HTTP: what it retries, when it refreshes, and what it never repeats."""

from __future__ import annotations

import random

import pytest
import requests
from support.sandbox import SandboxServer

from ml_connector.http.client import HttpClient
from ml_connector.http.errors import ApiError, RetriesExhausted, TransientError
from ml_connector.http.pacing import RollingWindowLimiter
from ml_connector.http.retry import RetryPolicy

FAST = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.02, rng=random.Random(0))


def classify(response: requests.Response) -> None:
    if response.status_code in (429, 502, 503, 504):
        raise TransientError("probe", f"status {response.status_code}", status=response.status_code)
    if response.status_code >= 400:
        raise ApiError("probe", response.text[:200], status=response.status_code)


class RefreshingAuth:
    """A stand-in credential that starts stale and becomes valid on the first refresh."""

    def __init__(self) -> None:
        self.token = "stale"
        self.refreshes = 0

    def apply(self, headers: dict[str, str]) -> str | None:
        headers["Authorization"] = f"Bearer {self.token}"
        return self.token

    def refresh_after_unauthorized(self, used: str | None) -> bool:
        self.refreshes += 1
        self.token = "good"
        return True


def test_transient_statuses_and_dropped_connections_are_retried(probe_server: str) -> None:
    client = HttpClient("probe", classify=classify, policy=FAST)
    SandboxServer(probe_server).arm(route="GET /items/{item_id}", kind="status", status=503)
    SandboxServer(probe_server).arm(route="GET /items/{item_id}", kind="drop")
    response = client.request("GET", f"{probe_server}/items/7", what="item 7")
    assert response.json()["id"] == 7
    assert SandboxServer(probe_server).by_route()["GET /items/{item_id}"] == 3


def test_a_cut_off_body_is_retried(probe_server: str) -> None:
    client = HttpClient("probe", classify=classify, policy=FAST)
    SandboxServer(probe_server).arm(route="GET /items/{item_id}", kind="malformed")

    def strict(response: requests.Response) -> None:
        classify(response)
        try:
            response.json()
        except ValueError as exc:
            raise TransientError("probe", "unreadable body") from exc

    client.classify = strict
    assert client.request("GET", f"{probe_server}/items/1", what="item 1").json()["id"] == 1


def test_client_errors_are_sent_once(probe_server: str) -> None:
    client = HttpClient("probe", classify=classify, policy=FAST)
    with pytest.raises(ApiError) as info:
        client.request("GET", f"{probe_server}/nowhere", what="missing")
    assert info.value.status == 404
    assert SandboxServer(probe_server).by_route() == {"GET <unmatched>": 1}


def test_retries_are_bounded(probe_server: str) -> None:
    client = HttpClient("probe", classify=classify, policy=FAST)
    SandboxServer(probe_server).arm(route="*", kind="status", status=502, count=10)
    with pytest.raises(RetriesExhausted):
        client.request("GET", f"{probe_server}/items/1", what="item 1")
    assert SandboxServer(probe_server).by_route()["GET /items/{item_id}"] == FAST.max_attempts


def test_a_401_refreshes_once_and_sends_once_more(probe_server: str) -> None:
    auth = RefreshingAuth()
    client = HttpClient("probe", classify=classify, policy=FAST, auth=auth)
    assert client.request("GET", f"{probe_server}/protected", what="protected").json() == {"ok": True}
    assert auth.refreshes == 1
    assert SandboxServer(probe_server).by_route()["GET /protected"] == 2


def test_a_second_401_is_not_refreshed_again(probe_server: str) -> None:
    auth = RefreshingAuth()
    client = HttpClient("probe", classify=classify, policy=FAST, auth=auth)
    SandboxServer(probe_server).arm(route="GET /protected", kind="expired_token", count=2)
    with pytest.raises(ApiError) as info:
        client.request("GET", f"{probe_server}/protected", what="protected")
    assert info.value.status == 401
    assert auth.refreshes == 1


def test_every_attempt_waits_for_the_limiter(probe_server: str) -> None:
    limiter = RollingWindowLimiter(100, 2.0)
    calls = 0
    original = limiter.acquire

    def counting() -> float:
        nonlocal calls
        calls += 1
        return original()

    limiter.acquire = counting  # type: ignore[method-assign]
    client = HttpClient("probe", classify=classify, policy=FAST, limiter=limiter)
    SandboxServer(probe_server).arm(route="GET /items/{item_id}", kind="status", status=429)
    client.request("GET", f"{probe_server}/items/1", what="item 1")
    assert calls == 2
