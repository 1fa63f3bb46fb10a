"""SessionHook: the session is opened once, on first use, even under concurrent first calls."""

from __future__ import annotations

import ast
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, MultiFernet

from ml_connector.credentials.oauth import AccessToken, OAuthTokenSource
from ml_connector.credentials.vault import TokenVault
from ml_connector.hooks.base import SessionHook, oauth_valid_until
from ml_connector.http.client import HeaderAuth
from ml_connector.http.retry import RetryPolicy


class _Session:
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


class _Hook(SessionHook[_Session]):
    def __init__(self) -> None:
        super().__init__()
        self.opened = 0
        self._extra: str | None = None

    @property
    def extra(self) -> str:
        """A second lazily read part under the same lock, as WorkdayHook's config is."""
        with self._lock:
            if self._extra is None:
                self._extra = "read"
            return self._extra

    def _open_session(self) -> _Session:
        assert self.extra == "read"  # re-enters the lock held by _state()
        time.sleep(0.05)  # widen the window in which a second opener would slip in
        self.opened += 1
        return _Session()


def test_nothing_is_opened_until_first_use_and_close_before_is_a_no_op() -> None:
    hook = _Hook()
    hook.close()
    assert hook.opened == 0


def test_concurrent_first_calls_open_one_session() -> None:
    hook = _Hook()
    seen: list[_Session] = []
    threads = [threading.Thread(target=lambda: seen.append(hook._state())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert hook.opened == 1
    assert len({id(session) for session in seen}) == 1
    hook.close()
    assert seen[0].closed == 1


def test_oauth_source_carries_the_hooks_vault_and_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = TokenVault(tmp_path / "credentials", MultiFernet([Fernet(Fernet.generate_key())]))
    policy = RetryPolicy(max_attempts=1)

    class Hook(_Hook):
        def __init__(self) -> None:
            SessionHook.__init__(self, retry_policy=policy, vault=vault)

    source = Hook()._oauth_source(
        conn_id="c",
        system="workday",
        token_url="https://idp.example/token",
        client_id="id",
        client_secret="secret",
        refresh_token="rt",
        timeout_s=5.0,
        verify=True,
    )
    assert source._vault is vault
    assert source._http.policy is policy
    assert source.client_auth == "basic"
    assert oauth_valid_until("Workday", HeaderAuth("x-api-token", "t")) is None
    monkeypatch.setattr(source, "token", lambda: AccessToken("at", expires_at=1_800_000_000.0))
    assert isinstance(source, OAuthTokenSource)
    assert (
        oauth_valid_until("Workday", source)
        == "Workday OAuth access token valid until 2027-01-15T08:00:00+00:00"
    )


def test_importing_the_hooks_loads_neither_the_oauth_code_nor_the_vault() -> None:
    """A hook is imported at DAG parse time; its credentials code waits for the first call."""
    code = (
        "import sys\n"
        "import ml_connector.hooks.pipedrive, ml_connector.hooks.workday\n"
        "print(sorted(m for m in sys.modules if m.startswith('ml_connector.credentials.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = ast.literal_eval(out.strip().splitlines()[-1])
    assert "ml_connector.credentials.oauth" not in loaded
    assert "ml_connector.credentials.vault" not in loaded


@pytest.mark.parametrize(
    ("extra", "warned"), [("verify_tls=false", True), ("verify_tls=true", False), ("", False)]
)
def test_tls_verification_is_on_unless_turned_off_and_then_said_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, extra: str, warned: bool
) -> None:
    from ml_connector.hooks.pipedrive import PipedriveHook

    monkeypatch.setenv(
        "AIRFLOW_CONN_PIPEDRIVE_TLS",
        "pipedrive://:0123456789abcdef0123456789abcdef01234567@crm.example.test/?auth_kind=api_token&"
        + extra,
    )
    hook = PipedriveHook("pipedrive_tls")
    with caplog.at_level("WARNING"):
        hook._state()
        hook._state()  # the session is opened once, and so is the warning
    lines = [
        r.getMessage() for r in caplog.records if "TLS certificate verification is OFF" in r.getMessage()
    ]
    assert len(lines) == (1 if warned else 0)
    assert hook.get_conn().session.verify is (not warned)
    assert "0123456789abcdef" not in caplog.text
