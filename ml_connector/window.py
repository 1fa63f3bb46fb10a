"""Which Workday update window a DAG run extracts, and when the watermark may move.

The watermark is the end of the window the last successful run covered with no gap before it. Its rules:

- an entity with no watermark has never completed a sync: its first scheduled or manual run is an
  initial full load, whatever its data interval says (a first daily run would otherwise read only
  yesterday and leave every older record out of Pipedrive for good);
- a scheduled run extracts its data interval, widened by the overlap so a record committed just before
  a boundary is not lost to clock skew, and starts no later than the watermark, so an interval that
  failed or was skipped is read again;
- a backfill run extracts exactly its own data interval;
- a manual run (UI, REST API, CLI; with or without a logical date, which the trigger form prefills)
  reads from the watermark minus the overlap to the time it was triggered;
- explicit ``updated_from``/``updated_to`` params win, and ``full_refresh``/``reconcile`` read everything;
- the watermark only moves over contiguous coverage: a window that starts after it, or any bounded
  window while there is none yet, leaves it where it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from ml_connector.vocabulary import Mode

RunKind = Literal["scheduled", "backfill", "manual"]
INITIAL_LOAD = "no watermark yet: initial full load"


def run_kind(run_type: str) -> RunKind:
    """Airflow's run type as the window sees it: asset-triggered and operator-triggered runs have no
    interval of their own to honour, so they continue from the watermark like manual runs."""
    return run_type if run_type in ("scheduled", "backfill") else "manual"  # type: ignore[return-value]


@dataclass(frozen=True)
class UpdateWindow:
    """``[start, end)``; ``start=None`` means a full scan up to ``end``."""

    start: datetime | None
    end: datetime
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat(),
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> UpdateWindow:
        start = _utc(value.get("start"))
        end = _utc(value["end"])
        assert end is not None
        return cls(start, end, str(value.get("reason") or ""))


def _utc(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def resolve_window(
    *,
    mode: Mode,
    overlap: timedelta,
    now: datetime,
    kind: RunKind,
    interval_start: datetime | None,
    interval_end: datetime | None,
    updated_from: datetime | str | None = None,
    updated_to: datetime | str | None = None,
    watermark: datetime | str | None = None,
) -> UpdateWindow:
    """The window for one run; raises ValueError naming the param when the bounds are inverted."""
    explicit_from, explicit_to = _utc(updated_from), _utc(updated_to)
    if explicit_from or explicit_to:
        end = explicit_to or now
        if explicit_from and explicit_from >= end:
            raise ValueError(
                f"param updated_from ({explicit_from.isoformat()}) must be before updated_to ({end.isoformat()})"
            )
        return UpdateWindow(explicit_from, end, "params updated_from/updated_to")
    if mode != "incremental":
        return UpdateWindow(None, now, f"mode {mode}: full scan")
    first, last = _utc(interval_start), _utc(interval_end)
    has_interval = first is not None and last is not None and first < last
    if kind == "backfill" and has_interval:
        assert first is not None and last is not None
        return UpdateWindow(first - overlap, last, "backfill: its data interval minus overlap")
    mark = _utc(watermark)
    if mark is None:
        return UpdateWindow(None, now, INITIAL_LOAD)
    if kind == "scheduled" and has_interval:
        assert first is not None and last is not None
        if mark < first:  # an earlier interval failed or was skipped: read from where the last run ended
            return UpdateWindow(mark - overlap, last, "from the watermark (an earlier interval is missing)")
        return UpdateWindow(first - overlap, last, "data interval minus overlap")
    return UpdateWindow(mark - overlap, now, "last watermark minus overlap to now (manual run)")


def next_watermark(old: datetime | None, window: UpdateWindow) -> datetime | None:
    """Where the watermark goes after a successful run of ``window``; ``None`` or ``old``: it stays."""
    if window.start is not None and (old is None or window.start > old):
        return None  # a gap before this window (or no coverage at all yet): coverage is not contiguous
    if old is not None and window.end <= old:
        return None  # an old backfill: never backwards
    return window.end
