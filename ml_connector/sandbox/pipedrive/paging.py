"""Opaque cursors in the spec's format: base64url JSON without padding.

The spec example decodes to ``{"field":"id","fieldValue":7,"sortDirection":"asc","id":7}``; list
cursors use that shape (keyset paging), search and field-list cursors carry an offset instead.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


def encode_cursor(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any] | None:
    """The cursor's payload, or ``None`` if it was not made by :func:`encode_cursor`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def offset_cursor(offset: int) -> str:
    return encode_cursor({"offset": offset})


def offset_from_cursor(cursor: str | None) -> int | None:
    """0 without a cursor, the offset it carries, or ``None`` for a foreign cursor."""
    if cursor is None:
        return 0
    payload = decode_cursor(cursor)
    offset = payload.get("offset") if payload else None
    return offset if isinstance(offset, int) and not isinstance(offset, bool) and offset >= 0 else None
