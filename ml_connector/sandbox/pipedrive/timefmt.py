"""Timestamps as Pipedrive writes them: RFC 3339 to the second in v2, ``YYYY-MM-DD HH:MM:SS`` in v1."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# Whole seconds only: fractional seconds are reported to fail v2 validation.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def v1_time(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%d %H:%M:%S")


def parse_rfc3339(text: str) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp, or ``None`` if it is not one the API accepts."""
    if not _RFC3339.match(text):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
