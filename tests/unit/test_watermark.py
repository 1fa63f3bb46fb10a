"""The watermark: where a run's window starts when earlier runs failed, and when it may move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ml_connector.dag.context import RunContext
from ml_connector.mapping import load_mapping
from ml_connector.staging.area import StagingArea

ROOT = Path(__file__).resolve().parents[2]
DAY = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
OVERLAP = timedelta(minutes=10)


def context(tmp_path: Path, *, run_type: str = "scheduled", start: datetime | None = DAY) -> RunContext:
    return RunContext(
        dag_id="workday_suppliers_to_pipedrive",
        run_id=f"{run_type}__x",
        mapping=load_mapping(ROOT / "include" / "mappings" / "suppliers.yaml"),
        area=StagingArea(f"file://{tmp_path}"),
        mode="incremental",
        dry_run=False,
        updated_from=None,
        updated_to=None,
        interval_start=start,
        interval_end=start + timedelta(days=1) if start else None,
        run_after=DAY + timedelta(days=1),
        run_type=run_type,
    )


def set_watermark(ctx: RunContext, when: datetime) -> None:
    ctx.state.write_watermark(ctx.entity, when, "an earlier run")


def test_a_scheduled_run_after_a_failed_one_reads_from_the_watermark(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    set_watermark(ctx, DAY - timedelta(days=2))
    window = ctx.window()
    assert window.start == DAY - timedelta(days=2) - OVERLAP and window.end == DAY + timedelta(days=1)


def test_the_first_scheduled_run_of_a_never_synced_entity_is_an_initial_full_load(tmp_path: Path) -> None:
    window = context(tmp_path).window()
    assert window.start is None and window.end == DAY + timedelta(days=1)
    assert window.reason == "no watermark yet: initial full load"


def test_a_manual_run_with_a_logical_date_reads_from_the_watermark(tmp_path: Path) -> None:
    ctx = context(tmp_path, run_type="manual")
    set_watermark(ctx, DAY - timedelta(days=2))
    window = ctx.window()
    assert (window.start, window.end) == (DAY - timedelta(days=2) - OVERLAP, DAY + timedelta(days=1))


def test_a_backfill_run_reads_exactly_its_interval(tmp_path: Path) -> None:
    ctx = context(tmp_path, run_type="backfill")
    set_watermark(ctx, DAY - timedelta(days=2))
    assert ctx.window().start == DAY - OVERLAP


@pytest.mark.parametrize(
    ("old", "start", "end", "expected"),
    [
        (None, None, DAY + timedelta(days=1), DAY + timedelta(days=1)),  # the initial full load
        (None, DAY, DAY + timedelta(days=1), None),  # a window before any full load: no coverage yet
        (DAY, DAY - OVERLAP, DAY + timedelta(days=1), DAY + timedelta(days=1)),  # contiguous: moves on
        (DAY, DAY + timedelta(days=3), DAY + timedelta(days=4), DAY),  # a gap before it: stays
        (DAY, DAY - timedelta(days=5), DAY - timedelta(days=4), DAY),  # an old backfill: never backwards
        (DAY, None, DAY + timedelta(hours=5), DAY + timedelta(hours=5)),  # a full scan covers everything
    ],
)
def test_the_watermark_moves_only_over_contiguous_coverage(
    tmp_path: Path, old: datetime | None, start: datetime | None, end: datetime, expected: datetime
) -> None:
    ctx = context(tmp_path)
    if old:
        set_watermark(ctx, old)
    assert ctx.watermark() == old
    ctx.advance_watermark({"start": start.isoformat() if start else None, "end": end.isoformat()})
    assert ctx.watermark() == expected
