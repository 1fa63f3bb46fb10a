"""The one place an HTTP call to Workday or Pipedrive is made: pacing, auth, classification, retry.

Each hook builds an :class:`HttpClient` with its own :data:`Classifier` (what a status or body means
for that API) and :class:`RequestAuth` (API token, Basic, or a refreshing OAuth bearer). The client:

1. waits for the pacing limiter, if any, and holds its slot until the answer is back;
2. adds the auth headers and sends on a keep-alive session;
3. turns connection errors and timeouts into :class:`TransientError`;
4. on a 401 (or what the API uses instead), lets the auth refresh once and sends once more;
5. hands the response to the classifier, which raises for failures;
6. retries transient failures by :func:`call_with_retry`;
7. reports a rejected credential to ``on_rejected`` (an alert) before raising it.

Why not the http provider's ``HttpHook`` session: its ``get_conn`` sends every connection extra it does not
know as an HTTP header, so ``refresh_token``, ``plan`` or ``budget_reserve`` would go out with each request;
it refreshes no OAuth token after a 401, paces nothing and cannot classify a SOAP fault before parsing.
What it does well, the retry loop, is the same library here: :func:`call_with_retry` runs on tenacity.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NameResolutionError, NewConnectionError

from ml_connector.audit import events
from ml_connector.audit.events import incident_of
from ml_connector.http.errors import ApiError, CredentialRejected, OutcomeUnknown, TransientError
from ml_connector.http.pacing import LatencyEwma, RollingWindowLimiter
from ml_connector.http.retry import RetryPolicy, call_with_retry

log = logging.getLogger(__name__)

# Raise an ApiError subclass when the response is a failure; return None when it is usable.
Classifier = Callable[[requests.Response], None]


class RequestAuth(Protocol):
    """Credentials for one connection, applied per request."""

    def apply(self, headers: dict[str, str]) -> str | None:
        """Add auth headers; return an opaque marker of the credential used (for refresh-after-401)."""

    def refresh_after_unauthorized(self, used: str | None) -> bool:
        """A 401 answered a request sent with ``used``: refresh if possible; True to send once more."""


class NoAuth:
    """For calls whose credentials travel in the body (WS-Security) or that need none."""

    def apply(self, headers: dict[str, str]) -> str | None:
        return None

    def refresh_after_unauthorized(self, used: str | None) -> bool:
        return False


@dataclass
class HeaderAuth:
    """A fixed header (``x-api-token``, ``Authorization: Basic ...``); a 401 is final."""

    name: str
    value: str = field(repr=False)

    def apply(self, headers: dict[str, str]) -> str | None:
        headers[self.name] = self.value
        return None

    def refresh_after_unauthorized(self, used: str | None) -> bool:
        return False


def _not_sent(exc: requests.RequestException) -> bool:
    """The connection was never made (refused, DNS, connect timeout): the server saw nothing."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError | NameResolutionError)


class HttpClient:
    """A keep-alive session for one API with its pacing, auth, classification and retry policy."""

    def __init__(
        self,
        system: str,
        *,
        classify: Classifier,
        auth: RequestAuth | None = None,
        policy: RetryPolicy | None = None,
        limiter: RollingWindowLimiter | None = None,
        timeout_s: float = 60.0,
        verify: bool | str = True,
        pool_size: int = 8,
        on_response: Callable[[requests.Response], None] | None = None,
        is_unauthorized: Callable[[requests.Response], bool] | None = None,
        on_rejected: Callable[[CredentialRejected], None] | None = None,
    ) -> None:
        self.system = system
        self.classify = classify
        self.auth: RequestAuth = auth or NoAuth()
        self.policy = policy or RetryPolicy()
        self.limiter = limiter
        self.timeout_s = timeout_s
        self.on_response = on_response
        # Workday SOAP says "expired token" with an HTTP 500 authentication fault, not a 401.
        self.is_unauthorized = is_unauthorized or (lambda response: response.status_code == 401)
        # A rejected credential needs a person: the hooks pass an alert here.
        self.on_rejected = on_rejected
        # Send to answer, without the wait for the limiter: what a caller sizes its concurrency by.
        self.latency = LatencyEwma()
        self.session = requests.Session()
        self.session.verify = verify
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        limiter: RollingWindowLimiter | None = None,
        timeout_s: float | None = None,
        idempotent: bool = True,
    ) -> requests.Response:
        """Send until a usable response comes back; raises the classifier's errors or RetriesExhausted.

        A non-idempotent call (a create) is resent only when it certainly never reached the server;
        otherwise its transient failure becomes :class:`OutcomeUnknown`.
        """

        def attempt() -> requests.Response:
            try:
                response = self._send_once(method, url, what, params, json, data, headers, limiter, timeout_s)
                self.classify(response)
            except ApiError as exc:
                if (incident := incident_of(exc, what)) is not None:
                    events.emit(incident)
                if not isinstance(exc, TransientError):
                    raise
                if idempotent or exc.never_reached_server:
                    raise
                raise OutcomeUnknown(
                    self.system,
                    f"{what}: {exc.api_message}; may have been applied, not resent",
                    status=exc.status,
                ) from exc
            return response

        try:
            return call_with_retry(attempt, self.policy, what=what)
        except CredentialRejected as exc:
            if self.on_rejected is not None:
                self.on_rejected(exc)
            raise

    def _send_once(
        self,
        method: str,
        url: str,
        what: str,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Any,
        headers: Mapping[str, str] | None,
        limiter: RollingWindowLimiter | None,
        timeout_s: float | None,
    ) -> requests.Response:
        refreshed = False
        while True:
            sent_headers = dict(headers or {})
            used = self.auth.apply(sent_headers)
            with ExitStack() as slots:
                # the call's own window (search) first: no general slot is held while it waits there
                for window in (limiter, self.limiter):
                    if window is not None:
                        slots.enter_context(window.slot())
                sent = time.monotonic()
                try:
                    response = self.session.request(
                        method,
                        url,
                        params=params,
                        json=json,
                        data=data,
                        headers=sent_headers,
                        timeout=timeout_s or self.timeout_s,
                    )
                except (requests.ConnectionError, requests.Timeout) as exc:
                    raise TransientError(
                        self.system, f"{what}: {type(exc).__name__}", never_reached_server=_not_sent(exc)
                    ) from exc
                except requests.exceptions.ChunkedEncodingError as exc:
                    raise TransientError(self.system, f"{what}: response cut off") from exc
                self.latency.observe(time.monotonic() - sent)
            if self.on_response is not None:
                self.on_response(response)
            if (
                not refreshed
                and self.is_unauthorized(response)
                and self.auth.refresh_after_unauthorized(used)
            ):
                log.info("%s: %s answered 401; credential refreshed, sending once more", self.system, what)
                refreshed = True
                continue
            return response
