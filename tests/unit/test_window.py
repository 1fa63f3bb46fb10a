"""Which update window a run extracts, for every kind of run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ml_connector.window import INITIAL_LOAD, RunKind, resolve_window, run_kind

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
TEN = timedelta(minutes=10)
START, END = datetime(2026, 11, 26, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC)
MARK = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def window(kind: RunKind, *, watermark: datetime | None = MARK, **overrides: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {
        "mode": "incremental",
        "overlap": TEN,
        "now": NOW,
        "kind": kind,
        "interval_start": START,
        "interval_end": END,
        "watermark": watermark,
        **overrides,
    }
    return resolve_window(**args)  # type: ignore[arg-type]


def test_scheduled_run_extracts_its_interval_minus_overlap() -> None:
    got = window("scheduled", watermark=END - timedelta(hours=1))
    assert (got.start, got.end) == (START - TEN, END)


def test_a_scheduled_run_after_a_missing_interval_starts_at_the_watermark() -> None:
    old = START - timedelta(days=2)
    got = window("scheduled", watermark=old)
    assert (got.start, got.end) == (old - TEN, END)


@pytest.mark.parametrize("kind", ["scheduled", "manual"])
def test_a_never_synced_entity_gets_an_initial_full_load_whatever_its_interval(kind: RunKind) -> None:
    got = window(kind, watermark=None)
    assert got.start is None and got.end == NOW
    assert got.reason == INITIAL_LOAD == "no watermark yet: initial full load"


def test_a_backfill_run_reads_exactly_its_interval_even_before_any_sync() -> None:
    for mark in (None, MARK, START - timedelta(days=30)):
        got = window("backfill", watermark=mark)
        assert (got.start, got.end) == (START - TEN, END)


def test_a_manual_run_with_a_logical_date_reads_from_the_watermark_to_now() -> None:
    got = window("manual")  # the trigger form prefilled a logical date, so the run has an interval
    assert (got.start, got.end) == (MARK - TEN, NOW)
    assert "watermark" in got.reason


def test_manual_run_without_logical_date_continues_from_the_watermark() -> None:
    got = window("manual", interval_start=None, interval_end=None, watermark="2026-11-27T09:00:00+00:00")
    assert (got.start, got.end) == (datetime(2026, 11, 27, 8, 50, tzinfo=UTC), NOW)


def test_zero_length_interval_falls_back_to_the_watermark() -> None:
    got = window("scheduled", interval_start=NOW, interval_end=NOW, watermark=None)
    assert got.start is None and got.end == NOW
    assert got.reason == INITIAL_LOAD
    got = window("scheduled", interval_start=NOW, interval_end=NOW)
    assert (got.start, got.end) == (MARK - TEN, NOW)


@pytest.mark.parametrize("kind", ["scheduled", "backfill", "manual"])
def test_params_win_over_the_interval(kind: RunKind) -> None:
    got = window(
        kind,
        watermark=None,
        interval_start=datetime(2026, 1, 1, tzinfo=UTC),
        interval_end=datetime(2026, 1, 2, tzinfo=UTC),
        updated_from="2026-11-01T00:00:00",
        updated_to="2026-11-02T00:00:00Z",
    )
    assert (got.start, got.end) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))


@pytest.mark.parametrize("mode", ["full_refresh", "reconcile"])
@pytest.mark.parametrize("kind", ["scheduled", "backfill", "manual"])
def test_full_modes_scan_everything(mode: str, kind: RunKind) -> None:
    got = window(kind, mode=mode)
    assert got.start is None and got.end == NOW


def test_inverted_params_name_the_param() -> None:
    with pytest.raises(ValueError, match="updated_from"):
        window("manual", updated_from="2026-11-03T00:00:00Z", updated_to="2026-11-02T00:00:00Z")


@pytest.mark.parametrize(
    ("run_type", "expected"),
    [
        ("scheduled", "scheduled"),
        ("backfill", "backfill"),
        ("manual", "manual"),
        ("asset_triggered", "manual"),
        ("operator_triggered", "manual"),
    ],
)
def test_run_types_map_to_the_three_window_rules(run_type: str, expected: str) -> None:
    assert run_kind(run_type) == expected
