"""One spelling per JSON value, for content hashes and stored state: sorted keys, no spaces, UTF-8 text
kept as is, no NaN. Two equal values always give the same text, so the same hash."""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
