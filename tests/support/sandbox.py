"""Talking to a running sandbox from tests: its control plane and a Pipedrive API session.

Every test that reads the sandbox's statistics, arms a fault or calls the Pipedrive API directly uses
these, so a change to the control plane is made in one place.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import requests

from ml_connector.http.retry import RetryPolicy
from ml_connector.sandbox.runtime import RunningSandbox

# A retry policy fast enough for tests: the same decisions as production, millisecond waits.
# How many burst windows an inspecting call waits out before it reports the 429.
RATE_LIMIT_RETRIES = 5

FAST = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05, rng=random.Random(0))


@dataclass(frozen=True)
class SandboxServer:
    """The control plane (``/_sandbox/...``) of one server: Workday's, Pipedrive's or a probe's.

    Only a URL, so a test can build one wherever it needs it: ``pipedrive_server(sandbox).by_route()``.
    """

    url: str

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """``METHOD /_sandbox<path>``; raises on an error status."""
        response = requests.request(method, f"{self.url}/_sandbox{path}", json=body, timeout=60)
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict[str, Any]:
        """Requests in total, by route template and by status (Pipedrive adds tokens spent)."""
        return dict(self.control("GET", "/stats"))

    def by_route(self) -> dict[str, int]:
        return dict(self.stats()["by_route"])

    def arm(self, **fault: Any) -> None:
        """Arm one fault, e.g. ``arm(route="POST /api/v2/organizations", kind="status", status=503)``."""
        self.control("POST", "/faults", fault)

    def reset(self) -> None:
        """Back to the seeded data, with no statistics, faults or issued tokens."""
        self.control("POST", "/reset")


@dataclass(frozen=True)
class PipedriveServer(SandboxServer):
    """Pipedrive's control plane, which also takes runtime settings (limits, budget, search lag)."""

    def settings(self, **values: Any) -> dict[str, Any]:
        """Change the server's behaviour, e.g. ``settings(daily_tokens_remaining=0)``; returns them all."""
        return dict(self.control("POST", "/pipedrive/settings", values))


@dataclass(frozen=True)
class WorkdayServer(SandboxServer):
    """Workday's control plane, which also counts and changes the tenant's data."""

    def summary(self) -> dict[str, Any]:
        """How many records of each kind the tenant holds (in total, inactive, ...)."""
        return dict(self.control("GET", "/workday/summary"))

    def mutate(self, **spec: int) -> dict[str, Any]:
        """Change the tenant's data, e.g. ``mutate(create_customers=3)``; returns what changed."""
        return dict(self.control("POST", "/workday/mutate", spec))


def pipedrive_server(sandbox: RunningSandbox) -> PipedriveServer:
    return PipedriveServer(sandbox.pipedrive_url)


def workday_server(sandbox: RunningSandbox) -> WorkdayServer:
    return WorkdayServer(sandbox.workday_url)


class PipedriveApi(requests.Session):
    """A keep-alive session on the Pipedrive sandbox with its API token, for calling the API directly."""

    def __init__(self, sandbox: RunningSandbox, *, rate_limits: bool = True) -> None:
        super().__init__()
        self.base = sandbox.pipedrive_url
        self.server = pipedrive_server(sandbox)
        self.headers["x-api-token"] = sandbox.config.pipedrive.api_token
        if not rate_limits:  # most API tests are not about the limits; theirs turn them on
            self.settings(enforce_rate_limits=False)

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.request(method, f"{self.base}{path}", **kwargs)

    def patient_call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A call that waits out a burst 429 (``x-ratelimit-reset``) a few times, as a polite client would.

        For inspecting the account: a test that looks right after a load shares the load's token and so
        its burst window. Tests about the limits themselves use ``call``.
        """
        response = self.call(method, path, **kwargs)
        for _ in range(RATE_LIMIT_RETRIES):
            if response.status_code != 429:
                break
            time.sleep(float(response.headers.get("x-ratelimit-reset") or 1))
            response = self.call(method, path, **kwargs)
        return response

    def data(self, method: str, path: str, **kwargs: Any) -> Any:
        """The ``data`` of a call that must succeed."""
        response = self.patient_call(method, path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def settings(self, **values: Any) -> dict[str, Any]:
        return self.server.settings(**values)

    def stats(self) -> dict[str, Any]:
        return self.server.stats()

    def field_code(self, kind: str, name: str) -> str:
        """The key of the ``organization`` or ``person`` field named ``name``."""
        return str(next(f["field_code"] for f in self.fields(kind) if f["field_name"] == name))

    def fields(self, kind: str) -> list[dict[str, Any]]:
        return list(self.data("GET", f"/api/v2/{kind}Fields", params={"limit": 500}))

    def role_counts(self) -> Counter[str]:
        """How many organizations carry each Workday role (the labels of the roles set field)."""
        field = next(f for f in self.fields("organization") if f["field_name"] == "Workday roles")
        labels = {o["id"]: o["label"] for o in field["options"]}
        return Counter(
            labels[option]
            for org in self.records("organizations")
            for option in org["custom_fields"].get(field["field_code"]) or []
        )

    def records(self, kind: str) -> list[dict[str, Any]]:
        """Every live record of ``organizations`` or ``persons``, paged with the v2 cursor."""
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            response = self.patient_call("GET", f"/api/v2/{kind}", params=params)
            assert response.status_code == 200, response.text
            body = response.json()
            out += body["data"] or []
            cursor = (body.get("additional_data") or {}).get("next_cursor")
            if not cursor:
                return out
