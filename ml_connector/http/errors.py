"""What can go wrong talking to Workday or Pipedrive, sorted by what the caller should do about it.

Every error keeps the API's own message; none carries a credential. What each means for the caller
(retry, a person must act, defer; whether it stops the run) is declared on the class
(:mod:`ml_connector.errors`).
"""

from __future__ import annotations

from ml_connector.errors import ConnectorError, Remedy


class ApiError(ConnectorError):
    """An API call failed in a way that retrying will not fix (validation, not found, permissions)."""

    remedy = Remedy.PERSON

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

    remedy = Remedy.RETRY

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
    connection, 5xx, an answer cut off). It is not resent blindly: a second POST could duplicate the
    record. The load looks it up in what changed since it began, and adopts or creates it then."""

    remedy = Remedy.RETRY


class RetriesExhausted(ApiError):
    """A transient failure outlasted the retry policy; the last failure is the ``__cause__``."""

    remedy = Remedy.RETRY


class CredentialRejected(ApiError):
    """The identity provider refused the credential itself (``invalid_grant``/``invalid_client``/bad password).

    Never retried: a person has to issue or rotate the credential on the named connection.
    """

    remedy = Remedy.PERSON
    stops_run = True


class EdgeBlocked(ApiError):
    """Pipedrive's edge answered 403 with an HTML page: the client ignored 429s; retrying prolongs the block."""

    remedy = Remedy.PERSON
    stops_run = True


class BudgetExhausted(ApiError):
    """The Pipedrive daily token budget would fall below the configured reserve; defer the rest of the work."""

    remedy = Remedy.DEFER
    stops_run = True

    def __init__(
        self, system: str, message: str, *, remaining: int | None, reserve: int, status: int | None = None
    ) -> None:
        super().__init__(system, message, status=status)
        self.remaining = remaining
        self.reserve = reserve
