"""What can go wrong talking to Workday or Pipedrive, sorted by what the caller should do about it.

Every error keeps the API's own message; none carries a credential.
"""

from __future__ import annotations


class ApiError(Exception):
    """An API call failed in a way that retrying will not fix (validation, not found, permissions)."""

    def __init__(
        self, system: str, message: str, *, status: int | None = None, detail: str | None = None
    ) -> None:
        self.system = system
        self.status = status
        self.api_message = message
        self.detail = detail
        where = f"{system} HTTP {status}" if status else system
        super().__init__(f"{where}: {message}" + (f" ({detail})" if detail else ""))


class TransientError(ApiError):
    """Throttling, a gateway error, a dropped connection or a timeout: worth another try later."""

    def __init__(
        self,
        system: str,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
        detail: str | None = None,
        never_reached_server: bool = False,
    ) -> None:
        super().__init__(system, message, status=status, detail=detail)
        self.retry_after_s = retry_after_s
        # True when the request certainly did nothing (refused connection, 429): safe to send again
        # even when it creates something.
        self.never_reached_server = never_reached_server or status == 429


class OutcomeUnknown(ApiError):
    """A create failed in a way that may have happened after the server applied it (timeout, dropped
    connection, 5xx). It is not resent: a second POST could duplicate the record. The next run's listing of
    records carrying the Workday ID finds it if it exists."""


class RetriesExhausted(ApiError):
    """A transient failure outlasted the retry policy; the last failure is the ``__cause__``."""


class CredentialRejected(ApiError):
    """The identity provider refused the credential itself (``invalid_grant``/``invalid_client``/bad password).

    Never retried: a person has to issue or rotate the credential on the named connection.
    """


class EdgeBlocked(ApiError):
    """Pipedrive's edge answered 403 with an HTML page: the client ignored 429s; retrying prolongs the block."""


class BudgetExhausted(ApiError):
    """The Pipedrive daily token budget would fall below the configured reserve; defer the rest of the work."""

    def __init__(self, system: str, message: str, *, remaining: int | None, reserve: int) -> None:
        super().__init__(system, message)
        self.remaining = remaining
        self.reserve = reserve
