"""Which Workday update window a DAG run extracts.

Scheduled and backfill runs extract their data interval, widened by an overlap so a record committed
just before a boundary is not lost to clock skew. A manual run may have no logical date in Airflow 3:
it continues from the last successful watermark. Explicit ``updated_from``/``updated_to`` params win,
and ``full_refresh``/``reconcile`` read everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

Mode = Literal["incremental", "full_refresh", "reconcile"]
MODES: tuple[Mode, ...] = ("incremental", "full_refresh", "reconcile")


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
    first, last_instant = _utc(interval_start), _utc(interval_end)
    if first is not None and last_instant is not None and first < last_instant:
        return UpdateWindow(first - overlap, last_instant, "data interval minus overlap")
    last = _utc(watermark)
    if last is not None:
        return UpdateWindow(last - overlap, now, "last watermark minus overlap (manual run)")
    return UpdateWindow(None, now, "no watermark yet: full scan")
