"""OAuth2 refresh against the sandbox's Workday and Pipedrive token endpoints, over real HTTP.

Every test also checks that no secret (client secret, refresh token, access token) reached the logs
or an exception message.
"""

from __future__ import annotations

import logging
import multiprocessing
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.fernet import Fernet

from ml_connector.credentials.keys import ENV_KEYS, load_fernet
from ml_connector.credentials.oauth import AccessToken, OAuthTokenSource, TokenRejected
from ml_connector.credentials.vault import TokenVault
from ml_connector.http.client import HttpClient
from ml_connector.http.errors import CredentialRejected
from ml_connector.http.retry import RetryPolicy
from ml_connector.sandbox.runtime import RunningSandbox

FAST = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05, rng=random.Random(3))


@dataclass
class Target:
    """One system's token endpoint, credentials and a route that needs a bearer token."""

    system: str
    conn_id: str
    base_url: str
    token_url: str
    token_route: str
    protected_url: str
    client_id: str
    client_secret: str
    refresh_token: str
    secrets: set[str] = field(default_factory=set)

    def oauth(self, **settings: Any) -> dict[str, Any]:
        response = requests.post(f"{self.base_url}/_sandbox/oauth", json=settings, timeout=10)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def refresh_count(self) -> int:
        return int(requests.get(f"{self.base_url}/_sandbox/oauth", timeout=10).json()["refresh_count"])

    def token_requests(self) -> int:
        stats = requests.get(f"{self.base_url}/_sandbox/stats", timeout=10).json()
        return int(stats["by_route"].get(self.token_route, 0))

    def seen(self, token: AccessToken) -> AccessToken:
        self.secrets.add(token.value)
        return token


@pytest.fixture(params=["workday", "pipedrive"])
def target(request: pytest.FixtureRequest, fresh_sandbox: RunningSandbox) -> Iterator[Target]:
    config = fresh_sandbox.config
    if request.param == "workday":
        wd, url = config.workday, fresh_sandbox.workday_url
        t = Target(
            "workday",
            "workday_default",
            url,
            f"{url}/ccx/oauth2/{wd.tenant}/token",
            "POST /ccx/oauth2/{tenant}/token",
            f"{url}/ccx/api/customerAccounts/v1/{wd.tenant}/customers",
            wd.client_id,
            wd.client_secret,
            wd.refresh_token,
        )
    else:
        pd, url = config.pipedrive, fresh_sandbox.pipedrive_url
        t = Target(
            "pipedrive",
            "pipedrive_default",
            url,
            f"{url}/oauth/token",
            "POST /oauth/token",
            f"{url}/v1/users/me",
            pd.client_id,
            pd.client_secret,
            pd.refresh_token,
        )
    t.secrets |= {t.client_secret, t.refresh_token}
    yield t
    # reset restores tokens and stats but not these switches: put the defaults back for other tests.
    t.oauth(rotate=False, ttl_s=3600)


@pytest.fixture()
def vault_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(ENV_KEYS, Fernet.generate_key().decode())
    return tmp_path / "credentials"


@pytest.fixture()
def new_vault(vault_dir: Path) -> Callable[[], TokenVault]:
    """A new vault object on the same directory, as a new process would build it."""
    return lambda: TokenVault(vault_dir, load_fernet())


@pytest.fixture()
def source(target: Target, new_vault: Callable[[], TokenVault]) -> Callable[..., OAuthTokenSource]:
    def build(**overrides: Any) -> OAuthTokenSource:
        kwargs: dict[str, Any] = {
            "conn_id": target.conn_id,
            "system": target.system,
            "token_url": target.token_url,
            "client_id": target.client_id,
            "client_secret": target.client_secret,
            "refresh_token": target.refresh_token,
            "vault": new_vault(),
            "policy": FAST,
            **overrides,
        }
        return OAuthTokenSource(**kwargs)

    return build


@pytest.fixture(autouse=True)
def no_secrets_leak(caplog: pytest.LogCaptureFixture, target: Target) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    # caplog.text in teardown holds only teardown records: read the setup and call phases explicitly.
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    records = [r for phase in ("setup", "call") for r in caplog.get_records(phase)]
    assert records, "nothing was logged: the leak check would be vacuous"
    text = "\n".join(formatter.format(r) for r in records)
    for secret in target.secrets:
        assert secret not in text


def _vault_state(vault: TokenVault, target: Target) -> dict[str, Any]:
    state = vault.read(target.conn_id)
    assert state is not None
    target.secrets |= {state["refresh_token"], state["access_token"]}
    return state


def test_token_is_cached_until_near_expiry(target: Target, source: Callable[..., OAuthTokenSource]) -> None:
    tokens = source()
    first = target.seen(tokens.token())
    assert [tokens.token() for _ in range(5)] == [first] * 5
    assert target.refresh_count() == 1
    assert 3000 < first.expires_at - time.time() <= 3600
    # A second source (another task) finds the token in the vault instead of refreshing.
    assert target.seen(source().token()) == first
    assert target.refresh_count() == 1
    if target.system == "pipedrive":
        assert first.extras["api_domain"] == target.base_url
    assert "value" not in repr(first) and first.value not in repr(first)


def test_token_within_the_margin_is_refreshed_proactively(
    target: Target, source: Callable[..., OAuthTokenSource]
) -> None:
    target.oauth(ttl_s=5)
    tokens = source(refresh_margin_s=60)
    values = {target.seen(tokens.token()).value for _ in range(3)}
    assert len(values) == 3
    assert target.refresh_count() == 3


def test_form_client_authentication(target: Target, source: Callable[..., OAuthTokenSource]) -> None:
    target.seen(source(client_auth="form").token())
    assert target.refresh_count() == 1


def test_a_401_refreshes_once_and_the_request_succeeds(
    target: Target, source: Callable[..., OAuthTokenSource]
) -> None:
    tokens = source()
    before = target.seen(tokens.token())
    target.oauth(expire_access_tokens=True)
    client = HttpClient(target.system, classify=lambda response: None, auth=tokens, policy=FAST)
    response = client.request("GET", target.protected_url, what="protected call")
    assert response.status_code == 200
    after = target.seen(tokens.token())
    assert after.value != before.value
    assert target.refresh_count() == 2


def test_a_401_with_a_token_already_replaced_elsewhere_does_not_refresh_again(
    target: Target, source: Callable[..., OAuthTokenSource]
) -> None:
    ours, theirs = source(), source()
    stale = target.seen(ours.token())
    marker = ours.apply({})
    assert theirs.refresh_after_unauthorized(marker) is True  # another task saw the 401 first
    assert ours.refresh_after_unauthorized(marker) is True
    assert target.refresh_count() == 2
    assert target.seen(ours.token()) == target.seen(theirs.token()) != stale


def test_rotated_refresh_token_is_persisted_encrypted_and_survives_a_restart(
    target: Target, source: Callable[..., OAuthTokenSource], new_vault: Callable[[], TokenVault]
) -> None:
    target.oauth(rotate=True)
    target.seen(source().token())
    vault = new_vault()
    state = _vault_state(vault, target)
    assert state["refresh_token"] != target.refresh_token
    raw = vault.path_for(target.conn_id).read_bytes()
    assert state["refresh_token"].encode() not in raw and state["access_token"].encode() not in raw
    # The connection's original refresh token is now dead on the server ...
    dead = requests.post(
        target.token_url,
        data={"grant_type": "refresh_token", "refresh_token": target.refresh_token},
        auth=(target.client_id, target.client_secret),
        timeout=10,
    )
    assert dead.status_code == 400 and dead.json()["error"] == "invalid_grant"
    # ... so a "restarted" process that must refresh can only succeed with the stored rotated token.
    restarted = source(refresh_margin_s=7200)
    target.seen(restarted.token())
    target.seen(restarted.token())
    assert target.refresh_count() == 3
    assert _vault_state(new_vault(), target)["refresh_token"] not in (
        target.refresh_token,
        state["refresh_token"],
    )


def test_a_new_refresh_token_in_the_connection_replaces_stored_state(
    target: Target, source: Callable[..., OAuthTokenSource], new_vault: Callable[[], TokenVault]
) -> None:
    # State grown from an earlier refresh token that has since been revoked and replaced.
    new_vault().write(
        target.conn_id,
        {"seed_fingerprint": "0" * 64, "refresh_token": "dead", "access_token": "old", "expires_at": 0.0},
    )
    target.seen(source().token())
    state = _vault_state(new_vault(), target)
    assert state["refresh_token"] == target.refresh_token and target.refresh_count() == 1


def test_invalid_grant_fails_fast_names_the_connection_and_alerts(
    target: Target, source: Callable[..., OAuthTokenSource]
) -> None:
    target.oauth(revoke_refresh_tokens=True)
    alerts: list[CredentialRejected] = []
    with pytest.raises(TokenRejected) as info:
        source(on_rejected=alerts.append).token()
    message = str(info.value)
    assert f"connection '{target.conn_id}'" in message and "invalid_grant" in message
    assert "refresh_token" in message and "re-authorize" in message
    assert alerts == [info.value]
    assert target.token_requests() == 1
    assert all(secret not in message for secret in target.secrets)


def test_invalid_client_fails_fast_and_the_default_alert_logs_it(
    target: Target, source: Callable[..., OAuthTokenSource], caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-client-secret-value"
    target.secrets.add(wrong)
    with pytest.raises(TokenRejected, match="invalid_client") as info:
        source(client_secret=wrong).token()
    assert info.value.status == 401 and target.token_requests() == 1
    alerts = [r for r in caplog.records if r.getMessage().startswith("credential alert: ")]
    assert len(alerts) == 1 and alerts[0].levelno == logging.ERROR
    assert target.conn_id in alerts[0].getMessage() and "client id and secret" in alerts[0].getMessage()


def test_transient_503_on_the_token_route_is_retried(
    target: Target, source: Callable[..., OAuthTokenSource]
) -> None:
    route = target.token_route
    requests.post(
        f"{target.base_url}/_sandbox/faults",
        json={"route": route, "kind": "status", "status": 503, "count": 2},
        timeout=10,
    ).raise_for_status()
    target.seen(source().token())
    assert target.token_requests() == 3 and target.refresh_count() == 1


def test_concurrent_callers_share_one_refresh(
    target: Target, source: Callable[..., OAuthTokenSource]
) -> None:
    tokens = source()
    barrier = threading.Barrier(8)
    results: list[AccessToken] = []

    def worker() -> None:
        barrier.wait()
        results.append(tokens.token())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(results) == 8 and len({target.seen(t).value for t in results}) == 1
    assert target.refresh_count() == 1


def _token_in_child(kwargs: dict[str, Any], root: str, barrier: Any, out: Any) -> None:
    vault = TokenVault(Path(root), load_fernet())
    barrier.wait()
    out.put(OAuthTokenSource(vault=vault, **kwargs).token().value)


def test_processes_share_one_refresh(target: Target, vault_dir: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(3), ctx.Queue()
    kwargs = {
        "conn_id": target.conn_id,
        "system": target.system,
        "token_url": target.token_url,
        "client_id": target.client_id,
        "client_secret": target.client_secret,
        "refresh_token": target.refresh_token,
    }
    procs = [
        ctx.Process(target=_token_in_child, args=(kwargs, str(vault_dir), barrier, out)) for _ in range(3)
    ]
    for proc in procs:
        proc.start()
    values = {out.get(timeout=30) for _ in procs}
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    target.secrets |= values
    assert len(values) == 1 and target.refresh_count() == 1
