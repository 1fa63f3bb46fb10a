"""Connection parsing, operation costs, response classification and budget admission, without a server."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from ml_connector.hooks.pipedrive import PipedriveHook, rfc3339
from ml_connector.hooks.pipedrive_budget import TokenBudget
from ml_connector.hooks.pipedrive_config import InvalidPipedriveConnection, parse_connection
from ml_connector.hooks.pipedrive_http import PipedriveClassifier, operation, shared_limiters
from ml_connector.http.errors import (
    ApiError,
    BudgetExhausted,
    CredentialRejected,
    EdgeBlocked,
    TransientError,
)

TOKEN = "5a1dbe0c0a5d8e6f3b2c1d0e9f8a7b6c5d4e3f21"


@dataclass
class Conn:
    """The attributes of an Airflow Connection the parser reads."""

    conn_id: str = "pipedrive_test"
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = TOKEN
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def extra_dejson(self) -> dict[str, Any]:
        return self.extra


# -- connection parsing ----------------------------------------------------------------------------------
def test_defaults_for_an_api_token_connection() -> None:
    config = parse_connection(Conn())
    assert config.base_url == "https://api.pipedrive.com"
    assert (config.auth_kind, config.plan, config.seats, config.budget_reserve) == (
        "api_token",
        "growth",
        1,
        1000,
    )
    assert config.api_token is not None and config.api_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(config) + str(config)


@pytest.mark.parametrize(
    ("host", "port", "protocol", "expected"),
    [
        ("127.0.0.1", 8082, "http", "http://127.0.0.1:8082"),
        ("acme.pipedrive.com", None, None, "https://acme.pipedrive.com"),
        ("https://acme.pipedrive.com/", None, "http", "https://acme.pipedrive.com"),
        ("https://acme.pipedrive.com/api/v2", None, None, "https://acme.pipedrive.com"),
        ("", None, None, "https://api.pipedrive.com"),
    ],
)
def test_base_url_from_host_port_and_protocol(
    host: str, port: int | None, protocol: str | None, expected: str
) -> None:
    extra = {"protocol": protocol} if protocol else {}
    assert parse_connection(Conn(host=host, port=port, extra=extra)).base_url == expected


def test_extras_from_a_uri_are_strings_and_are_coerced() -> None:
    extra = {
        "plan": "Premium",
        "seats": "3",
        "budget_reserve": "250",
        "timeout": "12.5",
        "verify_tls": "false",
    }
    config = parse_connection(Conn(extra=extra))
    assert (config.plan, config.seats, config.budget_reserve, config.timeout) == ("premium", 3, 250, 12.5)
    assert config.verify_tls is False


@pytest.mark.parametrize(
    ("conn", "fragment"),
    [
        (Conn(extra={"plan": "enterprise"}), "extra 'plan': Input should be 'lite', 'growth'"),
        (Conn(extra={"seats": 0}), "extra 'seats': Input should be greater than or equal to 1"),
        (Conn(extra={"budget_reserve": "lots"}), "extra 'budget_reserve'"),
        (Conn(extra={"auth_kind": "basic"}), "extra 'auth_kind': Input should be 'api_token' or 'oauth2'"),
        (Conn(password=None), "needs the API token in the password field"),
        (
            Conn(extra={"auth_kind": "oauth2"}, login="client"),
            "oauth2 needs extra 'refresh_token'",
        ),
        (
            Conn(extra={"auth_kind": "oauth2", "refresh_token": "r"}, password=None),
            "oauth2 needs login (client id), password (client secret)",
        ),
        (Conn(host="ftp://files.example"), "host: 'ftp://files.example' is not an http(s) API domain"),
    ],
)
def test_invalid_settings_name_the_connection_and_field(conn: Conn, fragment: str) -> None:
    with pytest.raises(InvalidPipedriveConnection) as info:
        parse_connection(conn)
    assert "Pipedrive connection 'pipedrive_test'" in str(info.value)
    assert fragment in str(info.value)
    assert TOKEN not in str(info.value)


def test_oauth_connection_keeps_its_secrets_out_of_reprs() -> None:
    conn = Conn(
        login="client-id",
        password="client-secret-value",
        extra={"auth_kind": "oauth2", "refresh_token": "refresh-token-value"},
    )
    config = parse_connection(conn)
    assert config.client_id == "client-id" and config.api_token is None
    assert config.oauth_url == "https://oauth.pipedrive.com/oauth/token"
    assert "client-secret-value" not in repr(config) and "refresh-token-value" not in repr(config)


OAUTH = {"auth_kind": "oauth2", "refresh_token": "refresh-token-value"}


def test_the_old_token_endpoint_extra_still_works_with_a_deprecation_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    extra = {**OAUTH, "oauth_token_url": "https://oauth.example.test/token"}
    config = parse_connection(Conn(login="id", password="secret", extra=extra))
    assert config.oauth_url == "https://oauth.example.test/token"
    assert "'oauth_token_url' is deprecated; rename it to 'oauth_url'" in caplog.text
    both = {**extra, "oauth_url": "https://oauth.example.test/new"}
    assert parse_connection(Conn(login="id", password="secret", extra=both)).oauth_url.endswith("/new")


def test_a_masked_token_endpoint_is_refused_naming_the_field() -> None:
    """What the old form saved when left unchanged: Airflow's mask instead of the URL."""
    with pytest.raises(InvalidPipedriveConnection, match="oauth_url"):
        parse_connection(Conn(login="id", password="secret", extra={**OAUTH, "oauth_token_url": "***"}))


def test_json_connection_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "pipedrive", "password": TOKEN, "extra": {"plan": "bogus"}}
    monkeypatch.setenv("AIRFLOW_CONN_PIPEDRIVE_JSON", json.dumps(conn))
    hook = PipedriveHook("pipedrive_json")
    with pytest.raises(InvalidPipedriveConnection, match="'pipedrive_json' is invalid: extra 'plan'"):
        hook.config  # noqa: B018
    assert repr(hook) == "PipedriveHook(pipedrive_conn_id='pipedrive_json')"
    ok, message = hook.test_connection()
    assert not ok and "extra 'plan'" in message


def test_hook_identity() -> None:
    assert PipedriveHook.conn_type == "pipedrive"
    assert PipedriveHook.default_conn_name == "pipedrive_default"
    assert PipedriveHook.conn_name_attr == "pipedrive_conn_id"
    assert PipedriveHook.hook_name == "Pipedrive"


# -- operations, classification, budget ------------------------------------------------------------------
def test_operations_resolve_to_their_cost_templates() -> None:
    assert operation("GET", "/api/v2/organizations/search").cost == 20
    assert operation("GET", "/api/v2/organizations/search").is_search
    assert operation("GET", "/api/v2/organizations/17").template == "/api/v2/organizations/{id}"
    assert operation("GET", "/api/v2/organizations/17").cost == 1
    assert operation("POST", "/api/v2/personFields/abc123/options").cost == 5
    assert operation("GET", "/v1/users/me").cost == 2
    assert operation("GET", "/nothing/here").cost == 0


def test_rfc3339_is_utc_whole_seconds() -> None:
    moment = datetime(2026, 3, 1, 12, 30, 15, 999_000, tzinfo=timezone(timedelta(hours=2)))
    assert rfc3339(moment) == "2026-03-01T10:30:15Z"
    assert rfc3339(datetime(2026, 3, 1)) == "2026-03-01T00:00:00Z"


def response(
    status: int,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    text: str | None = None,
    method: str = "POST",
    path: str = "/api/v2/organizations",
) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = (text if text is not None else json.dumps(body)).encode()
    r.headers.update(headers or {"content-type": "application/json"})
    r.request = requests.Request(method, f"https://api.pipedrive.com{path}").prepare()
    return r


CLASSIFY = PipedriveClassifier("pd", "api_token", reserve=100)


@pytest.mark.parametrize(
    ("resp", "error"),
    [
        (
            response(403, text="<!DOCTYPE html><html>denied</html>", headers={"content-type": "text/html"}),
            EdgeBlocked,
        ),
        (response(401, {"success": False, "error": "unauthorized access"}), CredentialRejected),
        (
            response(
                429, {"error": "Rate limit exceeded"}, headers={"x-daily-ratelimit-token-remaining": "0"}
            ),
            BudgetExhausted,
        ),
        (response(503, {"error": "Requested service is not available"}), TransientError),
        (
            response(400, {"error": "Validation failed: name", "code": "ERR_SCHEMA_VALIDATION_FAILED"}),
            ApiError,
        ),
    ],
)
def test_classifier_sorts_failures(resp: requests.Response, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        CLASSIFY(resp)
    assert type(info.value) is error
    assert "html" not in str(info.value)


def test_burst_429_waits_for_the_longer_server_hint() -> None:
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "2", "retry-after": "5"}
    with pytest.raises(TransientError) as info:
        CLASSIFY(response(429, {"error": "Rate limit exceeded"}, headers=headers))
    assert info.value.retry_after_s == 5.0


def test_budget_counts_calls_in_flight_against_the_reserve() -> None:
    budget = TokenBudget("pd", plan_budget=120, reserve=100)
    post = operation("POST", "/api/v2/organizations")
    with budget.admit(post), budget.admit(post), budget.admit(post), budget.admit(post):
        with pytest.raises(BudgetExhausted) as info, budget.admit(post):
            pass
        assert info.value.remaining == 100
    budget.observe(response(200, {"data": {}}, headers={"x-daily-ratelimit-token-remaining": "104"}), post)
    assert (budget.spent, budget.remaining) == (5, 104)
    budget.observe(response(429, {}, headers={}), post)
    assert budget.spent == 5


def test_limiters_are_shared_per_credential_and_plan() -> None:
    a = shared_limiters("api_token", "growth", "f1")
    assert shared_limiters("api_token", "growth", "f1") is a
    assert shared_limiters("api_token", "lite", "f1") is not a
    assert (a.burst.limit, a.search.limit, a.burst.window_s) == (
        39,
        9,
        2.0,
    )  # 99% of 40 and of 10 per 2 s, rounded down
    assert shared_limiters("oauth2", "growth", "f2").burst.limit == 158  # 99% of 160


def test_a_429_with_fewer_daily_tokens_than_the_call_costs_is_the_budget() -> None:
    headers = {"x-ratelimit-remaining": "30", "x-daily-ratelimit-token-remaining": "3"}
    with pytest.raises(BudgetExhausted) as info:
        CLASSIFY(response(429, {"error": "Rate limit exceeded"}, headers=headers))
    assert info.value.remaining == 3


def test_legacy_prefixed_extras_are_read() -> None:
    config = parse_connection(Conn(extra={"extra__pipedrive__plan": "lite", "extra__pipedrive__seats": 2}))
    assert (config.plan, config.seats) == ("lite", 2)
