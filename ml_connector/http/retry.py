"""The one retry loop: exponential backoff with full jitter, bounded in attempts and in total time.

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
    """Run ``fn`` until it returns, raises a non-transient error, or the policy is spent."""
    started = clock()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except TransientError as exc:
            wait = max(policy.backoff_s(attempt), exc.retry_after_s or 0.0)
            elapsed = clock() - started
            if attempt >= policy.max_attempts or elapsed + wait > policy.max_total_s:
                raise RetriesExhausted(
                    exc.system,
                    f"{what} still failing after {attempt} attempts in {elapsed:.1f}s: {exc.api_message}",
                    status=exc.status,
                ) from exc
            log.warning(
                "%s failed (%s); retry %d/%d in %.2fs",
                what,
                exc,
                attempt,
                policy.max_attempts - 1,
                wait,
            )
            sleep(wait)
