"""Client-side pacing: stay under a rolling-window request limit instead of meeting 429s.

Pipedrive counts requests per token over a rolling 2-second window (and search separately); a
limiter per window, shared by every thread of a hook, keeps a sync under both.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RollingWindowLimiter:
    """At most ``limit`` acquisitions in any ``window_s`` seconds; ``acquire`` blocks until allowed."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError(
                f"a rolling window needs limit >= 1 and window_s > 0, got {limit} per {window_s}s"
            )
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._sleep = sleep
        self._stamps: deque[float] = deque()
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one slot; returns the seconds spent waiting for it."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._stamps and now - self._stamps[0] >= self.window_s:
                    self._stamps.popleft()
                wait = self._blocked_until - now
                if wait <= 0 and len(self._stamps) < self.limit:
                    self._stamps.append(now)
                    return waited
                if wait <= 0:
                    wait = self.window_s - (now - self._stamps[0])
            wait = max(wait, 0.001)
            self._sleep(wait)
            waited += wait

    def pause_for(self, seconds: float) -> None:
        """The server said the window is spent (``x-ratelimit-remaining: 0``): hold everyone back."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)
