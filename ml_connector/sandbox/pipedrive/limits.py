"""Pipedrive's rate limits: a daily company token budget, per-token burst windows, and the 403 ban.

Costs and plan limits come from :mod:`ml_connector.pipedrive_limits` (the specs' ``x-token-cost``). Choices where the
docs are silent, so the connector is tested against the stricter reading:

* a request that passes auth and the limits is charged its full cost, whatever its status (400/404 too);
* a rejected request (401, 429, 403) is not charged and does not enter the burst window, so a client
  that waits ``x-ratelimit-reset`` seconds recovers;
* the burst window is rolling: the last 2 s of accepted requests of one token;
* an API-token client that keeps getting 429s (more than ``ban_after_429s`` within ``ban_window_s``)
  is answered with Cloudflare's 403 HTML page for ``ban_s`` seconds; OAuth clients are never banned,
  as the docs say only ``api_token`` traffic is blocked.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from ml_connector.pipedrive_limits import (
    BURST_LIMITS,
    SEARCH_BURST_LIMIT,
    WINDOW_S,
    AuthKind,
    daily_token_budget,
)

# The legacy per-user counter of POST/PUT requests a day, still sent as x-daily-requests-left.
DAILY_WRITE_REQUESTS = 10_000


@dataclass
class LimitSettings:
    """The knobs tests turn at runtime through ``POST /_sandbox/pipedrive/settings``."""

    enforce: bool
    daily_limit: int
    burst_enforced: bool = True
    ban_after_429s: int = 10
    ban_window_s: float = 10.0
    ban_s: float = 30.0


@dataclass(frozen=True)
class Decision:
    """The verdict for one request: ``status`` 0 means go ahead; headers go on every response."""

    status: int
    headers: dict[str, str]


class RateLimiter:
    """All limiter state of one company account; thread-safe."""

    def __init__(self, plan: str, seats: int, enforce: bool) -> None:
        self.plan = plan
        self._default_daily = daily_token_budget(plan, seats)
        self._default_enforce = enforce
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.settings = LimitSettings(enforce=self._default_enforce, daily_limit=self._default_daily)
            self.spent_today = 0
            self._day = _utc_day()
            self._windows: dict[str, deque[float]] = {}
            self._search_windows: dict[str, deque[float]] = {}
            self._rejections: dict[str, deque[float]] = {}
            self._banned_until: dict[str, float] = {}
            self._writes_left: dict[str, int] = {}

    # -- settings -------------------------------------------------------------------------------------
    def set_daily(self, limit: int | None = None, remaining: int | None = None) -> None:
        """Change the budget; ``remaining`` is reached by adjusting what was spent today."""
        with self._lock:
            if limit is not None:
                self.settings.daily_limit = limit
            if remaining is not None:
                self.spent_today = max(0, self.settings.daily_limit - remaining)

    def daily_remaining(self) -> int:
        with self._lock:
            self._roll_day()
            return max(0, self.settings.daily_limit - self.spent_today)

    # -- the check ----------------------------------------------------------------------------------
    def admit(self, kind: AuthKind, token: str, method: str, cost: int, search: bool) -> Decision:
        """Charge ``cost`` to the budget and the token's windows, or say why not (403 or 429)."""
        now = time.monotonic()
        with self._lock:
            self._roll_day()
            s = self.settings
            limit = SEARCH_BURST_LIMIT if search else BURST_LIMITS[kind][self.plan]
            window = self._window(self._search_windows if search else self._windows, token, now)
            if s.enforce and kind == "api_token" and self._banned_until.get(token, 0.0) > now:
                return Decision(403, {})
            over_burst = s.enforce and s.burst_enforced and len(window) >= limit
            over_daily = s.enforce and self.spent_today + cost > s.daily_limit
            if over_burst or over_daily:
                self._note_rejection(kind, token, now)
                return Decision(429, self._headers(limit, window, now, kind, token, method, rejected=True))
            if search:
                # Search also takes a slot of the general burst window.
                self._window(self._windows, token, now).append(now)
            window.append(now)
            self.spent_today += cost
            if kind == "api_token" and method in ("POST", "PUT", "PATCH"):
                self._writes_left[token] = max(0, self._writes_left.get(token, DAILY_WRITE_REQUESTS) - 1)
            return Decision(0, self._headers(limit, window, now, kind, token, method, rejected=False))

    def _window(self, windows: dict[str, deque[float]], token: str, now: float) -> deque[float]:
        window = windows.setdefault(token, deque())
        while window and window[0] <= now - WINDOW_S:
            window.popleft()
        return window

    def _note_rejection(self, kind: AuthKind, token: str, now: float) -> None:
        if kind != "api_token":
            return
        s = self.settings
        seen = self._rejections.setdefault(token, deque())
        seen.append(now)
        while seen and seen[0] <= now - s.ban_window_s:
            seen.popleft()
        if len(seen) > s.ban_after_429s:
            self._banned_until[token] = now + s.ban_s
            seen.clear()

    def _headers(
        self,
        limit: int,
        window: deque[float],
        now: float,
        kind: AuthKind,
        token: str,
        method: str,
        *,
        rejected: bool,
    ) -> dict[str, str]:
        reset = math.ceil(window[0] + WINDOW_S - now) if window else 0
        remaining_daily = max(0, self.settings.daily_limit - self.spent_today)
        headers = {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(max(0, limit - len(window))),
            "x-ratelimit-reset": str(max(reset, 1) if rejected or window else 0),
            "x-daily-ratelimit-token-limit": str(self.settings.daily_limit),
            "x-daily-ratelimit-token-remaining": str(remaining_daily),
        }
        if kind == "api_token" and method in ("POST", "PUT", "PATCH"):
            headers["x-daily-requests-left"] = str(self._writes_left.get(token, DAILY_WRITE_REQUESTS))
        return headers

    def _roll_day(self) -> None:
        """The budget resets at midnight (UTC here; the real server's zone is unspecified)."""
        day = _utc_day()
        if day != self._day:
            self._day = day
            self.spent_today = 0
            self._writes_left.clear()


def _utc_day() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")
