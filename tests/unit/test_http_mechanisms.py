"""Retry and pacing on a fake clock: what is retried, for how long, and how requests are spaced."""

from __future__ import annotations

import random

import pytest

from ml_connector.http.errors import ApiError, RetriesExhausted, TransientError
from ml_connector.http.pacing import RollingWindowLimiter
from ml_connector.http.retry import RetryPolicy, call_with_retry


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _policy(**kw: float) -> RetryPolicy:
    return RetryPolicy(rng=random.Random(1), **kw)  # type: ignore[arg-type]


def test_transient_errors_are_retried_until_success() -> None:
    clock = FakeClock()
    outcomes: list[Exception | str] = [TransientError("x", "busy", status=503)] * 2 + ["ok"]

    def call() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert call_with_retry(call, _policy(), what="probe", sleep=clock.sleep, clock=clock) == "ok"
    assert len(clock.sleeps) == 2


def test_non_transient_errors_surface_at_once() -> None:
    calls = 0

    def call() -> None:
        nonlocal calls
        calls += 1
        raise ApiError("pipedrive", "Validation failed: name", status=400)

    with pytest.raises(ApiError, match="Validation failed"):
        call_with_retry(call, _policy(), what="probe", sleep=FakeClock().sleep)
    assert calls == 1


def test_server_hint_wins_over_shorter_backoff() -> None:
    clock = FakeClock()
    attempts = iter([TransientError("x", "slow down", status=429, retry_after_s=7.0)])

    def call() -> str:
        for exc in attempts:
            raise exc
        return "ok"

    call_with_retry(call, _policy(base_delay_s=0.1), what="probe", sleep=clock.sleep, clock=clock)
    assert clock.sleeps == [7.0]


def test_attempts_are_bounded_and_the_last_error_is_kept() -> None:
    clock = FakeClock()
    last = TransientError("workday", "HTTP 500 without a fault", status=500)

    def call() -> None:
        raise last

    with pytest.raises(RetriesExhausted) as info:
        call_with_retry(
            call, _policy(max_attempts=4), what="Get_Customers page 3", sleep=clock.sleep, clock=clock
        )
    assert len(clock.sleeps) == 3
    assert info.value.__cause__ is last
    assert "Get_Customers page 3" in str(info.value)


def test_total_time_is_bounded() -> None:
    clock = FakeClock()

    def call() -> None:
        raise TransientError("x", "throttled", status=429, retry_after_s=40.0)

    with pytest.raises(RetriesExhausted):
        call_with_retry(call, _policy(max_total_s=100.0), what="probe", sleep=clock.sleep, clock=clock)
    assert sum(clock.sleeps) <= 100.0


def test_backoff_grows_exponentially_within_the_cap() -> None:
    policy = _policy(base_delay_s=1.0, max_delay_s=8.0)
    ceilings = [min(8.0, 2 ** (n - 1)) for n in range(1, 8)]
    for attempt, ceiling in enumerate(ceilings, start=1):
        samples = [policy.backoff_s(attempt) for _ in range(200)]
        assert min(samples) >= 0 and max(samples) <= ceiling
        assert max(samples) > ceiling * 0.8


def test_limiter_never_exceeds_the_rolling_window() -> None:
    clock = FakeClock()
    limiter = RollingWindowLimiter(5, 2.0, clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(23):
        limiter.acquire()
        stamps.append(clock.now)
    for i, start in enumerate(stamps):
        in_window = [s for s in stamps[i:] if s - start < 2.0]
        assert len(in_window) <= 5
    assert stamps[-1] >= 2.0 * (23 // 5) - 1e-9


def test_limiter_pause_holds_back_the_next_request() -> None:
    clock = FakeClock()
    limiter = RollingWindowLimiter(100, 2.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.pause_for(3.0)
    waited = limiter.acquire()
    assert waited == pytest.approx(3.0)


def test_limiter_rejects_a_nonsense_limit() -> None:
    with pytest.raises(ValueError, match="limit >= 1"):
        RollingWindowLimiter(0, 2.0)
