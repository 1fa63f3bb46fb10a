"""``SessionHook``: what the Pipedrive and Workday hooks share about building their clients.

A hook is made at DAG parse time, where reading a connection or loading the token vault would slow
every parse; so the clients and credentials of a connection (its *session*) are built on first use,
once, even when several threads make that first call together; and the OAuth module is imported
only when a token source is built or checked, never by importing a hook.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Generic, Protocol, TypedDict, TypeVar

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from ml_connector.credentials.oauth import OAuthTokenSource
    from ml_connector.credentials.vault import TokenVault
    from ml_connector.http.client import RequestAuth
    from ml_connector.http.retry import RetryPolicy


class Session(Protocol):
    """What a hook builds from its connection; closing it releases the HTTP connection pools."""

    def close(self) -> None: ...


S = TypeVar("S", bound=Session)
log = logging.getLogger(__name__)


class HookOptions(TypedDict, total=False):
    """The keyword arguments every session hook takes, declared once; hooks pass them on as ``**options``."""

    retry_policy: RetryPolicy | None
    vault: TokenVault | None
    logger_name: str | None


class SessionHook(BaseHook, ABC, Generic[S]):
    """A hook whose session ``S`` is opened lazily by :meth:`_state` and released by :meth:`close`.

    :param retry_policy: how transient failures are retried (tests pass a fast one).
    :param vault: OAuth token vault; by default built from the environment when OAuth is used.
    """

    def __init__(
        self,
        *,
        retry_policy: RetryPolicy | None = None,
        vault: TokenVault | None = None,
        logger_name: str | None = None,
    ) -> None:
        super().__init__(logger_name=logger_name)
        self._retry_policy = retry_policy
        self._vault = vault
        self._session: S | None = None
        # Re-entrant, so that opening a session may read other lazily built parts under the same lock.
        self._lock = threading.RLock()

    @abstractmethod
    def _open_session(self) -> S:
        """Read the connection and build the session; called once, under the hook's lock."""

    def _state(self) -> S:
        """The session, opened on the first call."""
        with self._lock:
            if self._session is None:
                self._session = self._open_session()
            return self._session

    def close(self) -> None:
        """Release the session's connection pools, if it was ever opened."""
        if self._session is not None:
            self._session.close()

    def _oauth_source(
        self,
        *,
        conn_id: str,
        system: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        timeout_s: float,
        verify: bool | str,
    ) -> OAuthTokenSource:
        """The connection's refresh-token credential, with the hook's vault and retry policy.

        The OAuth module is imported on call, not at the top: importing a hook must not load it.
        """
        from ml_connector.credentials.oauth import OAuthTokenSource

        return OAuthTokenSource(
            conn_id=conn_id,
            system=system,
            token_url=token_url,
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh_token,
            vault=self._vault,
            client_auth="basic",
            timeout_s=timeout_s,
            verify=verify,
            policy=self._retry_policy,
        )


def warn_if_unverified(system: str, conn_id: str, verify: bool | str) -> None:
    """TLS verification is on unless the connection turns it off; then every task that opens the
    connection says so, once, where an operator reads the run."""
    if verify is False:
        log.warning(
            "%s connection '%s': TLS certificate verification is OFF (extra verify_tls=false); credentials "
            "and records travel to a server whose identity is not checked. Set verify_tls to true, or to "
            "the path of a CA bundle for a private CA.",
            system,
            conn_id,
        )


def oauth_valid_until(label: str, auth: RequestAuth, *, force: bool = False) -> str | None:
    """The OAuth half of a hook's ``refresh_credentials``: the access token is made valid now, so a
    dead refresh token fails before the run, and its expiry is reported; None when ``auth`` is not OAuth.
    ``force`` refreshes even when the stored token is still valid (the refresh token is then proven)."""
    from ml_connector.credentials.oauth import OAuthTokenSource

    if not isinstance(auth, OAuthTokenSource):
        return None
    token = auth.refresh_now() if force else auth.token()
    expires = datetime.fromtimestamp(token.expires_at, UTC)
    return f"{label} OAuth access token valid until {expires.isoformat(timespec='seconds')}"
