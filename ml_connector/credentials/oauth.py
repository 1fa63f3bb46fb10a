"""OAuth2 refresh-token credentials for Workday and Pipedrive, as a ``RequestAuth`` for ``HttpClient``.

An access token is reused until ``refresh_margin_s`` before it expires, then refreshed under the
vault's per-connection lock, so one task refreshes and the others pick up its result. The refresh
token is always read from the vault under that lock, and the new state is written to the vault
before the new access token is handed out: when the server rotates refresh tokens (the old one dies
on use), a crash after the exchange cannot leave only a dead token behind.

The connection's refresh token only seeds the vault. The vault remembers a sha256 fingerprint of the
seed, so when an operator puts a new refresh token into the connection (after a revocation, say) the
stored state, whose refresh token is probably dead, is discarded and the new one is used; otherwise
the stored token would shadow the operator's fix forever.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import requests

from ml_connector.audit import events
from ml_connector.audit.events import TokenRefresh
from ml_connector.credentials.alerts import CredentialAlert, log_credential_alert
from ml_connector.credentials.vault import TokenVault
from ml_connector.http.client import HeaderAuth, HttpClient, NoAuth, RequestAuth
from ml_connector.http.errors import ApiError, CredentialRejected, TransientError
from ml_connector.http.retry import RetryPolicy

log = logging.getLogger(__name__)

System = Literal["workday", "pipedrive"]
DEFAULT_EXPIRES_IN_S = 3600.0
# A refresh holds the connection's lock, so its retries are bounded tighter than an API call's.
DEFAULT_REFRESH_POLICY = RetryPolicy(max_attempts=5, max_total_s=120.0, base_delay_s=1.0, max_delay_s=30.0)
_STATE_VERSION = 1
_TOKEN_FIELDS = {"access_token", "refresh_token", "expires_in", "token_type"}
_REJECTED_ERRORS = {"invalid_grant", "invalid_client", "unauthorized_client"}
_LABELS = {"workday": "Workday", "pipedrive": "Pipedrive"}
_REMEDY_GRANT = (
    "Generate a new refresh token (Workday: View API Clients → Manage Refresh Tokens for Integrations; "
    "Pipedrive: re-authorize the app) and update the connection's refresh_token."
)
_REMEDY_CLIENT = (
    "Check the API client's id and secret (Workday: View API Clients; Pipedrive: the app's OAuth "
    "settings in Marketplace Manager) and update the connection's client id and secret."
)


@dataclass(frozen=True)
class AccessToken:
    """A bearer token, when it expires (epoch seconds) and what else the server said (``api_domain``)."""

    value: str = field(repr=False)
    expires_at: float
    extras: dict[str, Any] = field(default_factory=dict)

    def expires_within(self, seconds: float, now: float | None = None) -> bool:
        return self.expires_at - seconds <= (time.time() if now is None else now)


class TokenRejected(CredentialRejected):
    """The token endpoint refused the refresh token or the client; carries the connection and the fix."""

    def __init__(self, system: str, message: str, *, conn_id: str, oauth_error: str, status: int) -> None:
        super().__init__(system, message, status=status)
        self.conn_id = conn_id
        self.oauth_error = oauth_error


def fingerprint(secret: str) -> str:
    """A stable, non-reversible id of a credential, for comparisons and log markers."""
    return hashlib.sha256(secret.encode()).hexdigest()


class OAuthTokenSource:
    """Cached, self-refreshing bearer token of one connection; implements ``RequestAuth``."""

    def __init__(
        self,
        *,
        conn_id: str,
        system: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        vault: TokenVault | None = None,
        client_auth: Literal["basic", "form"] = "basic",
        refresh_margin_s: float = 120,
        timeout_s: float = 30,
        verify: bool | str = True,
        policy: RetryPolicy | None = None,
        on_rejected: Callable[[CredentialRejected], None] | None = None,
    ) -> None:
        if not refresh_token:
            raise ValueError(f"connection {conn_id!r} has no refresh token")
        self.conn_id = conn_id
        self.system = system
        self.token_url = token_url
        self.client_auth = client_auth
        self.refresh_margin_s = refresh_margin_s
        self._client_id = client_id
        self._client_secret = client_secret
        self._seed_refresh_token = refresh_token
        self._seed_fingerprint = fingerprint(refresh_token)
        # the configured vault (state directory and Fernet keys) unless the caller brings one
        self._vault = vault if vault is not None else TokenVault.from_environment()
        self._on_rejected: CredentialAlert = on_rejected or log_credential_alert
        self._memory: AccessToken | None = None
        auth: RequestAuth = NoAuth()
        if client_auth == "basic":
            basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
            auth = HeaderAuth("Authorization", f"Basic {basic}")
        self._http = HttpClient(
            system,
            classify=self._classify,
            auth=auth,
            policy=policy or DEFAULT_REFRESH_POLICY,
            timeout_s=timeout_s,
            verify=verify,
            pool_size=1,
        )
        _mask(client_secret, refresh_token)

    # -- RequestAuth --------------------------------------------------------------------------------
    def apply(self, headers: dict[str, str]) -> str | None:
        """Set the bearer header; the marker returned is a fingerprint prefix, safe to log."""
        token = self.token()
        headers["Authorization"] = f"Bearer {token.value}"
        return _marker(token.value)

    def refresh_after_unauthorized(self, used: str | None) -> bool:
        """Refresh once after a 401, unless another thread or process already replaced ``used``."""
        self._memory = None
        self._obtain(stale_marker=used, force=True)
        return True

    # -- tokens -------------------------------------------------------------------------------------
    def refresh_now(self) -> AccessToken:
        """Refresh under the connection's lock even while the stored token is still valid: proves the
        refresh token itself (``ml-connector doctor``). A rotated refresh token is stored as always."""
        self._memory = None
        return self._obtain(stale_marker=None, force=True)

    def token(self) -> AccessToken:
        """A token valid for at least ``refresh_margin_s`` more: from memory, the vault, or a refresh."""
        cached = self._memory
        if cached is not None and not cached.expires_within(self.refresh_margin_s):
            return cached
        return self._obtain(stale_marker=None, force=False)

    def _obtain(self, *, stale_marker: str | None, force: bool) -> AccessToken:
        with self._vault.lock(self.conn_id):
            state = self._stored_state()
            stored = _token_from_state(state) if state else None
            if stored is not None and not stored.expires_within(self.refresh_margin_s):
                replaced = stale_marker is not None and _marker(stored.value) != stale_marker
                if not force or replaced:
                    self._memory = stored
                    return stored
            refresh_token = str(state["refresh_token"]) if state else self._seed_refresh_token
            token = self._refresh(refresh_token)
            self._memory = token
            return token

    def _stored_state(self) -> dict[str, Any] | None:
        """The vault's state if it grew from the connection's current refresh token, else ``None``."""
        state = self._vault.read(self.conn_id)
        if state is None:
            return None
        if state.get("seed_fingerprint") != self._seed_fingerprint or not state.get("refresh_token"):
            log.info(
                "%s connection '%s' has a new refresh token; discarding the stored token state",
                self._label,
                self.conn_id,
            )
            return None
        return state

    def _refresh(self, refresh_token: str) -> AccessToken:
        _mask(refresh_token)  # a rotated one, from the vault: a server may echo what it was sent
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if self.client_auth == "form":
            form |= {"client_id": self._client_id, "client_secret": self._client_secret}
        what = f"{self._label} token refresh for connection '{self.conn_id}'"
        try:
            response = self._http.request("POST", self.token_url, what=what, data=form)
        except CredentialRejected as exc:
            events.emit(TokenRefresh(self.system, self.conn_id, "rejected", exc.api_message))
            self._alert(exc)
            raise
        except ApiError as exc:
            events.emit(TokenRefresh(self.system, self.conn_id, "failed", exc.api_message))
            raise
        body: dict[str, Any] = response.json()
        access = str(body["access_token"])
        new_refresh = str(body.get("refresh_token") or refresh_token)
        _mask(access, new_refresh)
        expires_in = _expires_in(body.get("expires_in"))
        extras = {k: v for k, v in body.items() if k not in _TOKEN_FIELDS}
        token = AccessToken(access, time.time() + expires_in, extras)
        # Persist first: if the refresh token was rotated, the old one is already dead on the server.
        self._vault.write(
            self.conn_id,
            {
                "version": _STATE_VERSION,
                "seed_fingerprint": self._seed_fingerprint,
                "refresh_token": new_refresh,
                "access_token": token.value,
                "expires_at": token.expires_at,
                "extras": extras,
                "refreshed_at": time.time(),
            },
        )
        rotated = new_refresh != refresh_token
        events.emit(
            TokenRefresh(self.system, self.conn_id, "refreshed", "refresh token rotated" if rotated else "")
        )
        log.info(
            "%s: new access token %s, expires in %.0fs%s",
            what,
            _marker(access),
            expires_in,
            "; refresh token rotated and stored" if rotated else "",
        )
        return token

    # -- classification and alerting ----------------------------------------------------------------
    def _classify(self, response: requests.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict) or not body.get("access_token"):
                raise TransientError(
                    self.system, "token endpoint answered without an access token", status=status
                )
            return
        if status in (408, 429) or status >= 500:
            raise TransientError(
                self.system,
                f"token endpoint answered HTTP {status}",
                status=status,
                retry_after_s=_retry_after(response),
            )
        error, description = self._oauth_error(response)
        if error in _REJECTED_ERRORS or status == 401:
            raise self._rejection(error or "invalid_client", description, status)
        raise ApiError(
            self.system,
            f"{self._label} connection '{self.conn_id}': token request failed ({error or 'error'}: {description})",
            status=status,
        )

    def _rejection(self, error: str, description: str, status: int) -> TokenRejected:
        what, remedy = "the refresh token was rejected", _REMEDY_GRANT
        if error in ("invalid_client", "unauthorized_client"):
            what, remedy = "the client credentials were rejected", _REMEDY_CLIENT
        message = f"{self._label} connection '{self.conn_id}': {what} ({error}: {description}). {remedy}"
        return TokenRejected(self.system, message, conn_id=self.conn_id, oauth_error=error, status=status)

    def _oauth_error(self, response: requests.Response) -> tuple[str, str]:
        """RFC 6749 ``error``/``error_description`` (Pipedrive says ``message``), with secrets scrubbed."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return "", f"HTTP {response.status_code}"
        error = str(body.get("error") or "")
        description = str(body.get("error_description") or body.get("message") or "no description")[:300]
        for secret in (self._client_secret, self._seed_refresh_token):
            description = description.replace(secret, "***")
        return error, description

    def _alert(self, error: CredentialRejected) -> None:
        try:
            self._on_rejected(error)
        except Exception:
            log.exception("the credential alert for connection '%s' failed", self.conn_id)

    @property
    def _label(self) -> str:
        return _LABELS.get(self.system, self.system)


def _token_from_state(state: dict[str, Any]) -> AccessToken | None:
    try:
        return AccessToken(
            str(state["access_token"]), float(state["expires_at"]), dict(state.get("extras") or {})
        )
    except (KeyError, TypeError, ValueError):
        return None


def _marker(value: str) -> str:
    return fingerprint(value)[:12]


def _expires_in(raw: Any) -> float:
    try:
        return float(raw) if raw is not None else DEFAULT_EXPIRES_IN_S
    except (TypeError, ValueError):
        return DEFAULT_EXPIRES_IN_S


def _retry_after(response: requests.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def _mask(*secrets: str) -> None:
    """Register secrets with Airflow's log masker when running inside Airflow (task logs redact them)."""
    if "airflow.sdk" not in sys.modules:
        return
    try:
        from airflow.sdk.log import mask_secret

        for secret in secrets:
            mask_secret(secret)
    except Exception:  # masking is defence in depth; never fail a refresh over it
        log.debug("could not register secrets with Airflow's masker")
