"""Which update window a run extracts, for every kind of run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ml_connector.window import resolve_window

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
TEN = timedelta(minutes=10)


def test_scheduled_run_extracts_its_interval_minus_overlap() -> None:
    start, end = datetime(2026, 11, 26, tzinfo=UTC), datetime(2026, 11, 27, tzinfo=UTC)
    window = resolve_window(mode="incremental", overlap=TEN, now=NOW, interval_start=start, interval_end=end)
    assert (window.start, window.end) == (start - TEN, end)


def test_manual_run_without_logical_date_continues_from_the_watermark() -> None:
    window = resolve_window(
        mode="incremental",
        overlap=TEN,
        now=NOW,
        interval_start=None,
        interval_end=None,
        watermark="2026-11-27T09:00:00+00:00",
    )
    assert (window.start, window.end) == (datetime(2026, 11, 27, 8, 50, tzinfo=UTC), NOW)


def test_zero_length_interval_falls_back_to_the_watermark() -> None:
    window = resolve_window(
        mode="incremental", overlap=TEN, now=NOW, interval_start=NOW, interval_end=NOW, watermark=None
    )
    assert window.start is None and window.end == NOW
    assert "full scan" in window.reason


def test_params_win_over_the_interval() -> None:
    window = resolve_window(
        mode="incremental",
        overlap=TEN,
        now=NOW,
        interval_start=datetime(2026, 1, 1, tzinfo=UTC),
        interval_end=datetime(2026, 1, 2, tzinfo=UTC),
        updated_from="2026-11-01T00:00:00",
        updated_to="2026-11-02T00:00:00Z",
    )
    assert (window.start, window.end) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 11, 2, tzinfo=UTC),
    )


@pytest.mark.parametrize("mode", ["full_refresh", "reconcile"])
def test_full_modes_scan_everything(mode: str) -> None:
    window = resolve_window(
        mode=mode,  # type: ignore[arg-type]
        overlap=TEN,
        now=NOW,
        interval_start=datetime(2026, 11, 26, tzinfo=UTC),
        interval_end=datetime(2026, 11, 27, tzinfo=UTC),
    )
    assert window.start is None and window.end == NOW


def test_inverted_params_name_the_param() -> None:
    with pytest.raises(ValueError, match="updated_from"):
        resolve_window(
            mode="incremental",
            overlap=TEN,
            now=NOW,
            interval_start=None,
            interval_end=None,
            updated_from="2026-11-03T00:00:00Z",
            updated_to="2026-11-02T00:00:00Z",
        )
