"""What every Workday sandbox route shares: settings, the store, the OAuth issuer and the throttle."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

from ml_connector.sandbox.config import SandboxConfig
from ml_connector.sandbox.oauth import TokenIssuer
from ml_connector.sandbox.workday.store import WorkdayStore


class Throttle:
    """A sliding one-second window of accepted requests; above ``max_rps`` a request is refused.

    Refused requests do not enter the window, so a client that backs off gets through again within a
    second (Workday publishes no numbers or ``Retry-After``; only the refusal's shape is known).
    """

    def __init__(self, max_rps: float) -> None:
        self.max_rps = max_rps
        self._accepted: deque[float] = deque()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        now = time.monotonic()
        with self._lock:
            while self._accepted and now - self._accepted[0] >= 1.0:
                self._accepted.popleft()
            if len(self._accepted) >= self.max_rps:
                return False
            self._accepted.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._accepted.clear()


@dataclass
class Tenant:
    config: SandboxConfig
    store: WorkdayStore
    issuer: TokenIssuer
    throttle: Throttle

    @property
    def name(self) -> str:
        return self.config.workday.tenant

    @property
    def isu_user(self) -> str:
        return self.config.workday.isu_username

    def bearer_state(self, authorization: str | None) -> str:
        """``"valid"``, ``"expired"``, ``"unknown"`` for a Bearer header; ``"absent"`` without one."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return "absent"
        return self.issuer.check_access(authorization[7:].strip())

    def isu_ok(self, username: str | None, password: str | None, *, tenant_suffix_required: bool) -> bool:
        """ISU credentials; SOAP wants ``user@tenant``, RaaS Basic auth takes either form."""
        user = username or ""
        expected = f"{self.isu_user}@{self.name}"
        if user != expected and (tenant_suffix_required or user != self.isu_user):
            return False
        return password == self.config.workday.isu_password
