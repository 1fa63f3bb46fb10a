"""The one retry policy: exponential backoff with full jitter, bounded in attempts and in total time.

Only ``TransientError`` (and the connection errors the hooks translate into it) is retried; every
other error surfaces at once. A server's own wait hint (``Retry-After``, ``x-ratelimit-reset``) wins
over the computed backoff when it is longer.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type

from ml_connector.http.errors import RetriesExhausted, TransientError

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    max_total_s: float = 600.0
    base_delay_s: float = 1.0
    max_delay_s: float = 120.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def backoff_s(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**(attempt-1))], so clients spread out."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return self.rng.uniform(0, ceiling)


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run ``fn`` until it returns, raises a non-transient error, or the policy is spent.

    The loop is tenacity's (as in Airflow's own ``HttpHook``); the decisions are the policy's: what is
    retried, the jittered backoff or the server's longer hint, and the bound in attempts and total time.
    """
    started = clock()

    def wait(state: RetryCallState) -> float:
        exc = _transient(state)
        return max(policy.backoff_s(state.attempt_number), exc.retry_after_s or 0.0)

    def stop(state: RetryCallState) -> bool:
        spent = clock() - started
        return (
            state.attempt_number >= policy.max_attempts or spent + state.upcoming_sleep > policy.max_total_s
        )

    def give_up(state: RetryCallState) -> T:
        exc = _transient(state)
        raise RetriesExhausted(
            exc.system,
            f"{what} still failing after {state.attempt_number} attempts in {clock() - started:.1f}s: "
            f"{exc.api_message}",
            status=exc.status,
        ) from exc

    def announce(state: RetryCallState) -> None:
        log.warning(
            "%s failed (%s); retry %d/%d in %.2fs",
            what,
            _transient(state),
            state.attempt_number,
            policy.max_attempts - 1,
            state.upcoming_sleep,
        )

    retrying = Retrying(
        retry=retry_if_exception_type(TransientError),
        wait=wait,
        stop=stop,
        sleep=sleep,
        before_sleep=announce,
        retry_error_callback=give_up,
    )
    return retrying(fn)


def _transient(state: RetryCallState) -> TransientError:
    assert state.outcome is not None
    exc = state.outcome.exception()
    assert isinstance(exc, TransientError)
    return exc
