"""Talking to a running sandbox from tests: its control plane and a Pipedrive API session.

Every test that reads the sandbox's statistics, arms a fault or calls the Pipedrive API directly uses
these, so a change to the control plane is made in one place.
"""

from __future__ import annotations

import random
from typing import Any

import requests

from ml_connector.http.retry import RetryPolicy
from ml_connector.sandbox.runtime import RunningSandbox

# A retry policy fast enough for tests: the same decisions as production, millisecond waits.
FAST = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05, rng=random.Random(0))


def control(server_url: str, method: str, path: str, body: Any = None) -> Any:
    """``METHOD /_sandbox<path>`` on one server (Workday's or Pipedrive's); raises on an error status."""
    response = requests.request(method, f"{server_url}/_sandbox{path}", json=body, timeout=60)
    response.raise_for_status()
    return response.json()


def stats(server_url: str) -> dict[str, Any]:
    """Requests in total, by route template and by status (Pipedrive adds tokens spent)."""
    return dict(control(server_url, "GET", "/stats"))


def by_route(server_url: str) -> dict[str, int]:
    return dict(stats(server_url)["by_route"])


def arm(server_url: str, **fault: Any) -> None:
    """Arm one fault, e.g. ``arm(url, route="POST /api/v2/organizations", kind="status", status=503)``."""
    control(server_url, "POST", "/faults", fault)


class PipedriveApi(requests.Session):
    """A keep-alive session on the Pipedrive sandbox with its API token, for calling the API directly."""

    def __init__(self, sandbox: RunningSandbox, *, rate_limits: bool = True) -> None:
        super().__init__()
        self.base = sandbox.pipedrive_url
        self.headers["x-api-token"] = sandbox.config.pipedrive.api_token
        if not rate_limits:  # most API tests are not about the limits; theirs turn them on
            self.settings(enforce_rate_limits=False)

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.request(method, f"{self.base}{path}", **kwargs)

    def data(self, method: str, path: str, **kwargs: Any) -> Any:
        """The ``data`` of a call that must succeed."""
        response = self.call(method, path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def settings(self, **values: Any) -> dict[str, Any]:
        return dict(control(self.base, "POST", "/pipedrive/settings", values))

    def stats(self) -> dict[str, Any]:
        return stats(self.base)

    def records(self, kind: str) -> list[dict[str, Any]]:
        """Every live record of ``organizations`` or ``persons``, paged with the v2 cursor."""
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            body = self.call("GET", f"/api/v2/{kind}", params=params).json()
            out += body["data"] or []
            cursor = (body.get("additional_data") or {}).get("next_cursor")
            if not cursor:
                return out
