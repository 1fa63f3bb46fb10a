"""The doctor's judgements that need no server: the plan and seats read from Pipedrive's headers, the
initial-sync estimate, the clock thresholds and how verdicts are shown."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from ml_connector.hooks.pipedrive_config import PipedriveConfig
from ml_connector.onboarding.checks import fail, ok, render_json, render_text, warn
from ml_connector.onboarding.doctor_estimate import estimate_checks, tokens_for
from ml_connector.onboarding.doctor_pipedrive import PipedriveFindings, limit_checks
from ml_connector.onboarding.doctor_workday import _clock


def config(plan: str = "growth", seats: int = 1) -> PipedriveConfig:
    return PipedriveConfig.model_validate(
        {"conn_id": "pipedrive_default", "plan": plan, "seats": seats, "api_token": SecretStr("t" * 40)}
    )


def headers(burst: int, daily: int | None) -> dict[str, str]:
    found = {"x-ratelimit-limit": str(burst)}
    return found | ({"x-daily-ratelimit-token-limit": str(daily)} if daily is not None else {})


def test_matching_plan_and_seats_pass() -> None:
    found = PipedriveFindings()
    checks = limit_checks(config("premium", 2), headers(100, 300_000), found)
    assert [c.status for c in checks] == ["ok", "ok"]
    assert found.daily_limit == 300_000


def test_the_plan_is_read_from_the_burst_limit_and_the_seats_from_the_budget() -> None:
    plan, daily = limit_checks(config("lite", 1), headers(100, 300_000), PipedriveFindings())
    assert plan.status == "fail" and "plan premium" in plan.message and plan.fix.endswith('plan to "premium"')
    assert (
        daily.status == "fail" and daily.fix == 'set the connection\'s extra plan to "premium" and seats to 2'
    )


def test_a_budget_plan_times_seats_cannot_give_asks_for_the_account_settings() -> None:
    _, daily = limit_checks(config("growth", 1), headers(40, 61_000), PipedriveFindings())
    assert daily.status == "fail" and "top-ups" in daily.fix


def test_missing_headers_warn_and_fall_back_to_plan_times_seats() -> None:
    found = PipedriveFindings()
    checks = limit_checks(config("growth", 3), {}, found)
    assert [c.status for c in checks] == ["warn", "warn"]
    assert found.daily_limit == 180_000


def test_the_estimate_counts_creates_and_listing_pages_and_days_at_the_reserve() -> None:
    assert tokens_for(1_000, 500) == 1_000 * 5 + 500 * 5 + 2 * 10 + 1 * 10
    one_day = estimate_checks({"customers": 100, "contacts": 50}, {"c": "customers"}, 60_000, 1_000)
    assert [c.status for c in one_day] == ["ok"] and "one day" in one_day[0].message
    days = estimate_checks({"customers": 20_000, "contacts": 40_000}, {"c": "customers"}, 60_000, 10_000)
    tokens = tokens_for(20_000, 40_000)
    assert days[0].status == "warn" and f"about {-(-tokens // 50_000)} days" in days[0].message


def test_both_dags_share_one_budget_line() -> None:
    totals = {"customers": 100, "suppliers": 50, "contacts": 70}
    checks = estimate_checks(totals, {"c": "customers", "s": "suppliers"}, 60_000, 0)
    assert len(checks) == 3 and "150 organizations" in checks[2].message
    assert estimate_checks(totals, {"c": "customers"}, None, 0)[0].status == "skip"


@pytest.mark.parametrize(
    ("offset", "status"), [(2.0, "ok"), (-90.0, "warn"), (700.0, "fail"), (None, "warn")]
)
def test_the_clock_warns_over_its_threshold_and_fails_past_the_overlap(
    offset: float | None, status: str
) -> None:
    assert _clock(offset, 10).status == status


def test_lines_show_the_symbol_and_the_fix_and_never_a_secret() -> None:
    checks = [
        ok("a", "one", "fine"),
        warn("a", "two", "hm", "do x"),
        fail("b", "three", "token s3cr3t-value", "do y"),
    ]
    text = render_text(checks, {"s3cr3t-value"})
    assert text.splitlines()[:5] == [
        "✔ a         one: fine",
        "! a         two: hm",
        "    fix: do x",
        "✖ b         three: token ***",
        "    fix: do y",
    ]
    assert text.splitlines()[-1].startswith("some checks failed: 1 ok, 1 warning(s), 1 failed")
    parsed = json.loads(render_json(checks, {"s3cr3t-value"}))
    assert parsed[2] == {
        "area": "b",
        "name": "three",
        "status": "fail",
        "message": "token ***",
        "fix": "do y",
        "dag_id": None,
    }
