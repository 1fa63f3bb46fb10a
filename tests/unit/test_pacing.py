"""The burst window on a fake clock: a held slot counts from its answer, sends are spread, and whatever
the network does to arrival times, the server never counts more than the limit in its window."""

from __future__ import annotations

import itertools
import random
from contextlib import ExitStack

import pytest

from ml_connector.hooks.pipedrive_http import paced_slots, shared_limiters, sustainable_share
from ml_connector.http.pacing import CATCH_UP, LatencyEwma, RollingWindowLimiter
from ml_connector.pipedrive_limits import AuthKind


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_held_slot_counts_from_its_answer_not_its_send() -> None:
    clock = FakeClock()
    limiter = RollingWindowLimiter(2, 2.0, clock=clock, sleep=clock.sleep)
    with limiter.slot():
        clock.now = 1.5  # the answer comes back 1.5 s after the send
    with limiter.slot():
        pass
    taken_at = clock.now
    limiter.acquire()
    # counted from the send, the first slot would free at 2.0; counted from the answer, at 3.5
    assert taken_at < 2.0 and clock.now == pytest.approx(3.5)


def test_a_slot_taken_by_acquire_counts_from_the_send() -> None:
    clock = FakeClock()
    limiter = RollingWindowLimiter(1, 2.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    clock.now = 1.5
    assert limiter.acquire() == pytest.approx(0.5)


def test_sends_are_spread_over_the_window() -> None:
    clock = FakeClock()
    limiter = RollingWindowLimiter(4, 2.0, clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(6):
        with limiter.slot():
            stamps.append(clock.now)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert limiter.spacing_s == pytest.approx(0.5 / CATCH_UP)  # a little faster than 4 per 2 s
    assert min(gaps) >= limiter.spacing_s - 1e-9


@pytest.mark.parametrize("seed", range(20))
def test_no_arrival_order_lets_the_server_count_more_than_the_limit(seed: int) -> None:
    """Requests overlap (several in flight at once) and each reaches the server at any moment between
    its send and its answer; the server's rolling window (its arrival stamps) never holds more than
    the limit, and the sends are not all serialised either (the window is used)."""
    rng = random.Random(seed)
    clock = FakeClock()
    limit, window = 5, 2.0
    limiter = RollingWindowLimiter(limit, window, clock=clock, sleep=clock.sleep)
    arrivals: list[float] = []
    open_slots: list[tuple[ExitStack, float]] = []
    most_in_flight = 0
    for _ in range(400):
        if open_slots and (len(open_slots) >= limit - 1 or rng.random() < 0.5):
            stack, sent = open_slots.pop(rng.randrange(len(open_slots)))
            clock.now += rng.uniform(0, 0.8)  # the answer comes back later
            arrivals.append(rng.uniform(sent, clock.now))
            stack.close()
        else:
            stack = ExitStack()
            stack.enter_context(limiter.slot())
            open_slots.append((stack, clock.now))
            most_in_flight = max(most_in_flight, len(open_slots))
    arrivals.sort()
    for i, arrived in enumerate(arrivals):
        in_window = [a for a in arrivals[: i + 1] if a > arrived - window]
        assert len(in_window) <= limit, (arrived, in_window)
    assert most_in_flight > 1


def test_every_slot_in_flight_waits_for_an_answer_and_a_window() -> None:
    clock = FakeClock()
    limiter = RollingWindowLimiter(2, 2.0, clock=clock, sleep=clock.sleep)
    with ExitStack() as stack:
        stack.enter_context(limiter.slot())
        stack.enter_context(limiter.slot())
        clock.now = 1.2
    limiter.acquire()  # both answered at 1.2: the next slot frees at 3.2
    assert clock.now == pytest.approx(3.2)


def test_pause_holds_back_held_slots_too() -> None:
    clock = FakeClock()
    limiter = RollingWindowLimiter(100, 2.0, clock=clock, sleep=clock.sleep)
    limiter.pause_for(1.0)
    with limiter.slot() as waited:
        assert waited == pytest.approx(1.0)


def test_rate_is_the_limit_over_the_window() -> None:
    assert RollingWindowLimiter(470, 2.0).rate_per_s == 235.0


def test_latency_average_follows_recent_calls() -> None:
    ewma = LatencyEwma(alpha=0.5)
    assert ewma.value is None
    ewma.observe(0.1)
    assert ewma.value == pytest.approx(0.1)
    ewma.observe(0.3)
    assert ewma.value == pytest.approx(0.2)
    with pytest.raises(ValueError, match="alpha"):
        LatencyEwma(alpha=0)


@pytest.mark.parametrize(
    ("auth", "plan", "limit", "slots"),
    [
        ("api_token", "growth", 40, 39),
        ("oauth", "growth", 160, 158),
        ("api_token", "ultimate", 120, 118),
        ("oauth", "ultimate", 480, 475),
    ],
)
def test_the_hook_paces_to_99_percent_of_the_plan_per_two_seconds(
    auth: AuthKind, plan: str, limit: int, slots: int
) -> None:
    limiters = shared_limiters("oauth2" if auth == "oauth" else "api_token", plan, f"fp-{auth}-{plan}")
    assert (limiters.burst.limit, limiters.burst.window_s, limiters.search.limit) == (slots, 2.0, 9)
    # at 100 ms a slot serves one call per 2.1 s: above 90% of the limit on every plan
    share = sustainable_share(auth, plan, 0.1)
    assert share == pytest.approx(slots / limit * 2.0 / 2.1) and share > 0.9


def test_a_one_request_window_still_sends() -> None:
    assert paced_slots(1) == 1
