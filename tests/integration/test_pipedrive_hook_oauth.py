"""PipedriveHook with OAuth2: calls go to the token's api_domain with a bearer, and a 401 refreshes once."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from cryptography.fernet import Fernet
from support.sandbox import pipedrive_server

from ml_connector.hooks.pipedrive import PipedriveHook
from ml_connector.http.errors import CredentialRejected
from ml_connector.http.retry import RetryPolicy
from ml_connector.sandbox.runtime import RunningSandbox

FAST = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05, rng=random.Random(5))
# Nothing listens here: if the hook used the connection's host instead of api_domain, calls would fail.
UNUSED_HOST = "http://127.0.0.1:9"


def oauth_state(sandbox: RunningSandbox, **settings: Any) -> dict[str, Any]:
    url = f"{sandbox.pipedrive_url}/_sandbox/oauth"
    response = requests.post(url, json=settings, timeout=10) if settings else requests.get(url, timeout=10)
    response.raise_for_status()
    return dict(response.json())


def oauth_connection(sandbox: RunningSandbox, **overrides: Any) -> str:
    creds = sandbox.config.pipedrive
    extra = {
        "auth_kind": "oauth2",
        "refresh_token": creds.refresh_token,
        "oauth_url": f"{sandbox.pipedrive_url}/oauth/token",
        "plan": "growth",
        "seats": 1,
    }
    conn = {
        "conn_type": "pipedrive",
        "host": UNUSED_HOST,
        "login": creds.client_id,
        "password": creds.client_secret,
        "extra": extra,
    }
    conn.update(overrides)
    return json.dumps(conn)


@pytest.fixture()
def oauth_env(
    fresh_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> Iterator[RunningSandbox]:
    monkeypatch.setenv("ML_CONNECTOR_FERNET_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("ML_CONNECTOR_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_PIPEDRIVE_OAUTH", oauth_connection(fresh_sandbox))
    yield fresh_sandbox


def test_calls_go_to_api_domain_with_a_bearer_and_refresh_after_401(
    oauth_env: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    creds = oauth_env.config.pipedrive
    hook = PipedriveHook("pipedrive_oauth", retry_policy=FAST)
    with caplog.at_level(logging.DEBUG):
        ok, message = hook.test_connection()
        assert ok, message
        org = hook.create("organization", {"name": "OAuth Org"})
        refreshes = oauth_state(oauth_env)["refresh_count"]

        oauth_state(oauth_env, expire_access_tokens=True)
        assert hook.get("organization", org["id"]) == org
        assert oauth_state(oauth_env)["refresh_count"] == refreshes + 1

    assert "pipedrive GET /api/v2/organizations/{id} -> 401" in caplog.text
    s = pipedrive_server(oauth_env).stats()
    assert s["by_status"].get("401") == 1  # the expired token, answered once, then the refreshed one
    assert s["by_route"]["GET /api/v2/organizations/{id}"] == 2
    assert hook.tokens_spent == s["tokens_spent"]
    secrets = {creds.client_secret, creds.refresh_token, creds.api_token}
    assert not [secret for secret in secrets if secret in caplog.text + repr(hook) + repr(hook.config)]
    assert "v1u:" not in caplog.text  # no access token either


def test_revoked_refresh_token_is_a_credential_error_naming_the_connection(oauth_env: RunningSandbox) -> None:
    oauth_state(oauth_env, revoke_refresh_tokens=True)
    hook = PipedriveHook("pipedrive_oauth", retry_policy=FAST)
    with pytest.raises(CredentialRejected) as info:
        hook.create("organization", {"name": "Nope"})
    assert "pipedrive_oauth" in str(info.value)
    assert oauth_env.config.pipedrive.refresh_token not in str(info.value)
    assert "POST /api/v2/organizations" not in pipedrive_server(oauth_env).stats()["by_route"]
