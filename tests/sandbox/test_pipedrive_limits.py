"""Token budget, burst windows, rate-limit headers, the 403 ban and fault responders."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests
from support.sandbox import PipedriveApi

from ml_connector.pipedrive_limits import token_costs
from ml_connector.sandbox.runtime import RunningSandbox

RATE_BODY = {"success": False, "error": "Rate limit exceeded", "errorCode": 429}
RATE_HEADERS = (
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-daily-ratelimit-token-limit",
    "x-daily-ratelimit-token-remaining",
)


Api = PipedriveApi


def _api(sandbox: RunningSandbox) -> Api:
    return PipedriveApi(sandbox)


@pytest.fixture()
def lite(make_sandbox: Callable[..., RunningSandbox]) -> RunningSandbox:
    return make_sandbox(pipedrive_plan="lite", pipedrive_seats=1)


def test_tokens_spent_is_the_sum_of_the_official_costs(fresh_sandbox: RunningSandbox) -> None:
    # the official x-token-cost of each operation, as `make reference` derives it from the specs
    costs = token_costs()
    api = _api(fresh_sandbox)
    calls = [
        (
            "POST",
            "/api/v2/organizationFields",
            "/api/v2/organizationFields",
            {"field_name": "X", "field_type": "text"},
        ),
        ("POST", "/api/v2/organizations", "/api/v2/organizations", {"name": "Acme"}),
        ("GET", "/api/v2/organizations", "/api/v2/organizations", None),
        ("GET", "/api/v2/organizations/1", "/api/v2/organizations/{id}", None),
        ("PATCH", "/api/v2/organizations/1", "/api/v2/organizations/{id}", {"name": "Acme 2"}),
        ("GET", "/api/v2/organizations/search?term=acme", "/api/v2/organizations/search", None),
        ("GET", "/api/v2/organizations/999", "/api/v2/organizations/{id}", None),  # 404s are charged too
        ("POST", "/api/v2/persons", "/api/v2/persons", {"name": "P"}),
        ("DELETE", "/api/v2/persons/1", "/api/v2/persons/{id}", None),
        ("GET", "/v1/personFields", "/v1/personFields", None),
        ("GET", "/v1/users/me", "/v1/users/me", None),
    ]
    expected = 0
    last: requests.Response | None = None
    for method, path, template, body in calls:
        last = api.call(method, path, json=body)
        assert last.status_code in (200, 404), last.text
        expected += costs[(method, template)]
    stats = api.stats()
    assert stats["tokens_spent"] == expected
    daily = 30_000 * 2  # growth plan, one seat
    assert stats["daily_tokens_remaining"] == daily - expected
    assert last is not None and last.headers["x-daily-ratelimit-token-remaining"] == str(daily - expected)
    assert last.headers["x-daily-ratelimit-token-limit"] == str(daily)


def test_every_api_response_carries_the_rate_limit_headers(fresh_sandbox: RunningSandbox) -> None:
    api = _api(fresh_sandbox)
    for response in (
        api.call("GET", "/api/v2/organizations"),
        api.call("GET", "/api/v2/organizations/42"),
        api.call("POST", "/api/v2/organizations", json={}),
    ):
        assert all(h in response.headers for h in RATE_HEADERS), response.headers
        assert int(response.headers["x-ratelimit-reset"]) >= 0
    post = api.call("POST", "/api/v2/organizations", json={"name": "A"})
    assert post.headers["x-ratelimit-limit"] == "40"  # growth, API token
    assert int(post.headers["x-daily-requests-left"]) < 10_000


def test_burst_limit_of_the_lite_plan_then_recovery(lite: RunningSandbox) -> None:
    api = _api(lite)
    codes = [api.call("GET", "/api/v2/organizations/1") for _ in range(23)]
    assert [r.status_code for r in codes[:20]] == [404] * 20
    limited = codes[20]
    assert limited.status_code == 429 and limited.json() == RATE_BODY
    assert limited.headers["x-ratelimit-limit"] == "20"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    reset = int(limited.headers["x-ratelimit-reset"])
    assert 1 <= reset <= 2
    spent = api.stats()["tokens_spent"]
    assert spent == 20  # the rejected requests cost nothing
    time.sleep(reset)
    assert api.call("GET", "/api/v2/organizations/1").status_code == 404


def test_oauth_tokens_have_their_own_larger_window(lite: RunningSandbox) -> None:
    creds = lite.config.pipedrive
    token = requests.post(
        f"{lite.pipedrive_url}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": creds.refresh_token},
        auth=(creds.client_id, creds.client_secret),
        timeout=5,
    ).json()["access_token"]
    api = _api(lite)
    for _ in range(20):
        api.call("GET", "/api/v2/organizations/1")
    assert api.call("GET", "/api/v2/organizations/1").status_code == 429
    bearer = requests.Session()
    bearer.headers["authorization"] = f"Bearer {token}"
    response = bearer.get(f"{lite.pipedrive_url}/api/v2/organizations/1")
    assert response.status_code == 404
    assert response.headers["x-ratelimit-limit"] == "80"


def test_search_has_a_window_of_ten(lite: RunningSandbox) -> None:
    api = _api(lite)
    codes = [api.call("GET", "/api/v2/persons/search", params={"term": "ab"}).status_code for _ in range(11)]
    assert codes == [200] * 10 + [429]
    assert api.call("GET", "/api/v2/persons/1").status_code == 404  # the general window still has room


def test_daily_budget_exhaustion(fresh_sandbox: RunningSandbox) -> None:
    api = _api(fresh_sandbox)
    api.settings(daily_tokens_remaining=6)
    assert api.call("POST", "/api/v2/organizations", json={"name": "A"}).status_code == 200
    listed = api.call("GET", "/api/v2/organizations")
    assert listed.status_code == 429 and listed.json() == RATE_BODY
    assert listed.headers["x-daily-ratelimit-token-remaining"] == "1"
    assert int(listed.headers["x-ratelimit-remaining"]) > 0  # tells a daily 429 from a burst one
    assert api.call("GET", "/api/v2/organizations/1").status_code == 200  # costs 1: still fits
    assert api.call("GET", "/api/v2/organizations/1").status_code == 429
    assert api.stats()["daily_tokens_remaining"] == 0
    api.settings(enforce_rate_limits=False)
    assert api.call("GET", "/api/v2/organizations").status_code == 200


def test_ignoring_429s_ends_in_the_cloudflare_403(fresh_sandbox: RunningSandbox) -> None:
    api = _api(fresh_sandbox)
    api.settings(daily_tokens_remaining=0, ban_after_429s=3, ban_window_s=10, ban_s=0.5)
    assert [api.call("GET", "/api/v2/organizations").status_code for _ in range(4)] == [429] * 4
    banned = api.call("GET", "/api/v2/organizations")
    assert banned.status_code == 403
    assert banned.headers["content-type"].startswith("text/html")
    assert "Cloudflare" in banned.text
    with pytest.raises(ValueError):
        banned.json()
    time.sleep(0.6)
    assert api.call("GET", "/api/v2/organizations").status_code == 429


def test_fault_responders_speak_pipedrive(fresh_sandbox: RunningSandbox) -> None:
    api = _api(fresh_sandbox)
    faults = [
        {"route": "GET /api/v2/organizations", "status": 503},
        {"route": "GET /api/v2/organizations", "status": 403},
        {"route": "GET /api/v2/organizations", "status": 429},
        {"route": "GET /api/v2/organizations", "kind": "expired_token"},
    ]
    api.call("POST", "/_sandbox/faults", json=faults).raise_for_status()
    unavailable = api.call("GET", "/api/v2/organizations")
    assert unavailable.status_code == 503 and unavailable.json()["success"] is False
    forbidden = api.call("GET", "/api/v2/organizations")
    assert forbidden.status_code == 403 and forbidden.headers["content-type"].startswith("text/html")
    limited = api.call("GET", "/api/v2/organizations")
    assert limited.status_code == 429 and limited.json() == RATE_BODY
    assert all(h in limited.headers for h in RATE_HEADERS)
    expired = api.call("GET", "/api/v2/organizations")
    assert expired.status_code == 401 and expired.json()["error"] == "unauthorized access"


def test_stats_timeline_counts_accepted_writes_and_429s_per_second(lite: RunningSandbox) -> None:
    api = _api(lite)
    for i in range(3):
        assert api.call("POST", "/api/v2/organizations", json={"name": f"T{i}"}).status_code == 200
    assert api.call("GET", "/api/v2/organizations").status_code == 200  # a read is no write
    statuses = [api.call("GET", "/api/v2/organizations").status_code for _ in range(25)]
    refused = statuses.count(429)
    assert refused > 0  # the lite window is 20 requests
    timeline = api.stats()["timeline"]
    assert sum(row["writes"] for row in timeline) == 3
    assert sum(row["rate_limited"] for row in timeline) == refused
    seconds = [row["second"] for row in timeline]
    assert seconds == sorted(seconds) and abs(seconds[-1] - time.time()) < 60
    api.server.reset()
    assert api.stats()["timeline"] == []
