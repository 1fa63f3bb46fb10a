"""How many writes the load keeps in flight: Little's law from the plan's window and the observed
latency, within the limiter's slots, re-sized while a batch runs."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ml_connector.fields import ResolvedField, ResolvedFields
from ml_connector.hooks.pipedrive_http import paced_slots
from ml_connector.http.pacing import MAX_IN_FLIGHT, LatencyEwma, WritePace
from ml_connector.load.execute import (
    HEADROOM,
    MIN_CONCURRENCY,
    ConcurrencySizer,
    Writer,
    concurrency_for,
    run_concurrently,
)
from ml_connector.load.known import KnownState
from ml_connector.load.plan import Change, PlannedOp, Row
from ml_connector.load.state import Journal
from ml_connector.staging.area import StagingArea

RESOLVED = ResolvedFields(
    entity="customers",
    organization=(ResolvedField("name", "name", "varchar", standard=True),),
    person=(),
)


@pytest.mark.parametrize(
    ("limit", "expected"),
    [(40, MIN_CONCURRENCY), (160, 16), (120, 12), (480, 48)],
    ids=["growth-api_token", "growth-oauth", "ultimate-api_token", "ultimate-oauth"],
)
def test_little_law_at_100_ms_per_plan(limit: int, expected: int) -> None:
    slots = paced_slots(limit)
    assert concurrency_for(slots / 2.0, 0.1, max_in_flight=slots) == expected
    assert HEADROOM == 2.0  # the expectations above are rate x latency x 2, rounded up


def test_before_any_latency_the_floor_and_never_past_the_limiter_or_the_ceiling() -> None:
    assert concurrency_for(235.0, None, max_in_flight=470) == MIN_CONCURRENCY
    assert concurrency_for(235.0, 5.0, max_in_flight=470) == MAX_IN_FLIGHT
    assert concurrency_for(235.0, 5.0, max_in_flight=9) == 9
    assert concurrency_for(1.0, None, max_in_flight=2) == 2  # a window of two slots: two in flight


def test_the_sizer_grows_with_latency_and_remembers_its_peak() -> None:
    latency: list[float | None] = [None]
    sizer = ConcurrencySizer(lambda: WritePace(235.0, 470, latency[0]), local=_ewma(0.0))
    assert sizer.target() == MIN_CONCURRENCY
    latency[0] = 0.1
    assert sizer.target() == 47
    latency[0] = 0.02
    assert sizer.target() == 10
    sizing = sizer.sizing(writes=3)
    assert (sizing.concurrency, sizing.peak, sizing.latency_s) == (10, 47, 0.02)
    assert "concurrency 10 (peak 47)" in str(sizing) and "latency 20.0 ms" in str(sizing)


def test_the_journal_time_counts_in_the_service_time() -> None:
    sizer = ConcurrencySizer(lambda: WritePace(100.0, 200, 0.05), local=_ewma(0.05))
    assert sizer.target() == concurrency_for(100.0, 0.1, max_in_flight=200) == 20


def test_a_sized_batch_never_runs_more_than_allowed_and_grows_when_allowed() -> None:
    lock = threading.Lock()
    running = 0
    seen: list[tuple[int, int]] = []  # (running, allowed when it started)
    finished = 0

    def allowed() -> int:
        return 2 if finished < 10 else 6

    def work(i: int) -> int:
        nonlocal running, finished
        with lock:
            running += 1
            seen.append((running, allowed()))
        time.sleep(0.01)
        with lock:
            running -= 1
            finished += 1
        return i * 2

    results = run_concurrently(work, range(60), max_workers=8, size=allowed)
    assert [r for _, r in results] == [i * 2 for i in range(60)]  # in input order
    assert max(r for r, _ in seen) <= 6
    assert max(r for r, cap in seen if cap == 2) <= 2
    assert max(r for r, _ in seen) > 2


class FakeHook:
    def __init__(self) -> None:
        self.sent = 0
        self._lock = threading.Lock()

    def create(self, entity: Any, payload: dict[str, Any]) -> dict[str, Any]:
        time.sleep(0.005)
        with self._lock:
            self.sent += 1
            return {"id": 100 + self.sent}

    def patch(self, entity: Any, record_id: int, payload: dict[str, Any]) -> dict[str, Any]:
        return {"id": record_id}

    def merge(self, entity: Any, record_id: int, into_id: int) -> int:
        return into_id

    def connect(self) -> None:
        pass


def _ops(n: int) -> list[PlannedOp]:
    return [
        PlannedOp(
            "organization",
            f"CUS-{i}",
            "create",
            changes=(Change("name", None, f"Org {i}"),),
            row=Row("organization", f"CUS-{i}", {"name": f"Org {i}"}, f"h{i}"),
        )
        for i in range(n)
    ]


def test_writer_sizes_from_the_pace_and_journals_every_write(tmp_path: Path) -> None:
    journal = Journal(StagingArea(str(tmp_path)), "customers", "run-1")
    pace = WritePace(rate_per_s=235.0, max_in_flight=470, latency_s=0.1)
    writer = Writer(FakeHook(), RESOLVED, journal, KnownState(), "run-1", pace=lambda: pace)
    results = writer.write_all(_ops(30))
    assert all(not isinstance(r, Exception) for _, r in results)
    assert writer.sizing is not None and writer.sizing.concurrency > MIN_CONCURRENCY
    assert writer.sizing.journal_s is not None  # the journal's time is measured as it goes
    entries, _ = journal.pending()
    assert sorted(e.pipedrive_id for e in entries) == list(range(101, 131))


def test_an_explicit_pool_is_kept(tmp_path: Path) -> None:
    journal = Journal(StagingArea(str(tmp_path)), "customers", "run-1")
    pace = WritePace(rate_per_s=235.0, max_in_flight=470, latency_s=0.1)
    writer = Writer(FakeHook(), RESOLVED, journal, KnownState(), "run-1", pace=lambda: pace)
    writer.write_all(_ops(3), max_workers=1)
    assert writer.sizing is not None and (writer.sizing.concurrency, writer.sizing.rate_per_s) == (1, None)


def _ewma(value: float) -> LatencyEwma:
    ewma = LatencyEwma()
    ewma.observe(value)
    return ewma
