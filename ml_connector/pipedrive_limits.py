"""Pipedrive's published limits: token cost per operation, daily budget and burst windows by plan, page sizes.

Facts from Pipedrive's rate-limiting documentation and the ``x-token-cost`` of each operation in its
OpenAPI specs. The hook paces and budgets by them; the sandbox enforces them; one table serves both.
"""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources
from typing import Literal

AuthKind = Literal["api_token", "oauth"]
Plan = Literal["lite", "growth", "premium", "ultimate"]

BASE_DAILY_TOKENS = 30_000
PLAN_MULTIPLIER: dict[str, int] = {"lite": 1, "growth": 2, "premium": 5, "ultimate": 7}
BURST_LIMITS: dict[AuthKind, dict[str, int]] = {
    "api_token": {"lite": 20, "growth": 40, "premium": 100, "ultimate": 120},
    "oauth": {"lite": 80, "growth": 160, "premium": 400, "ultimate": 480},
}
SEARCH_BURST_LIMIT = 10
WINDOW_S = 2.0
MAX_PAGE_SIZE = 500  # ``limit`` of a v2 list call
MAX_CUSTOM_FIELD_KEYS = 15  # ``custom_fields`` keys one v2 list call may ask for


def daily_token_budget(plan: str, seats: int) -> int:
    """30,000 base tokens x plan multiplier x seats (top-ups not included)."""
    return BASE_DAILY_TOKENS * PLAN_MULTIPLIER[plan] * seats


@cache
def token_costs() -> dict[tuple[str, str], int]:
    """``(METHOD, path template) -> tokens``, e.g. ``("POST", "/api/v2/organizations") -> 5``."""
    text = resources.files("ml_connector").joinpath("pipedrive_token_costs.csv").read_text(encoding="utf-8")
    return {(row["method"], row["path"]): int(row["cost"]) for row in csv.DictReader(text.splitlines())}
