"""Accepted writes and 429s per wall-clock second: how close a load runs to the plan's burst limit.

Totals say how much a load wrote; only a timeline says whether it kept the limit busy or left half of it
idle, and when it hit the limit. ``make bench`` charts it against the limit.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Timeline:
    """Counts per whole UNIX second; thread-safe. Reads count only when they are refused (429)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._writes: Counter[int] = Counter()
        self._rate_limited: Counter[int] = Counter()

    def admitted(self, method: str) -> None:
        if method in WRITE_METHODS:
            with self._lock:
                self._writes[int(time.time())] += 1

    def refused(self) -> None:
        with self._lock:
            self._rate_limited[int(time.time())] += 1

    def reset(self) -> None:
        with self._lock:
            self._writes.clear()
            self._rate_limited.clear()

    def to_json(self) -> list[dict[str, Any]]:
        """One row per second that saw either, oldest first: ``{"second", "writes", "rate_limited"}``."""
        with self._lock:
            seconds = sorted(set(self._writes) | set(self._rate_limited))
            return [
                {"second": s, "writes": self._writes[s], "rate_limited": self._rate_limited[s]}
                for s in seconds
            ]
