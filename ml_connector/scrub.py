"""Taking secrets out of text before it leaves the process: an alert, a ledger row.

The product's errors carry no credential by design; this is the second line for text that is not the
product's own (a library's exception, a server's answer echoed in one): known secrets, whatever Airflow's
masker knows, and the usual shapes of a credential in text are replaced by ``***``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

MASK = "***"
_NAMES = r"(?:api[_-]?token|api[_-]?key|access[_-]?token|refresh[_-]?token|client[_-]?secret|password|passwd|secret|token)"
_PATTERNS = [
    # first the scheme and its credential, or "token: Bearer x" would lose only the word Bearer
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\g<1> {MASK}"),
    # key=value and key: value, quoted or not (query strings, form bodies, JSON, repr of dicts)
    (re.compile(rf"(?i)([\"']?{_NAMES}[\"']?\s*[:=]\s*[\"']?)[^\"'\s&,;}}]+"), rf"\g<1>{MASK}"),
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/\s:@]*:[^/\s@]*@"), rf"\g<1>{MASK}@"),  # user:password@
    (re.compile(r"(?i)(\bhttps?://[^\s?#'\"]+)\?[^\s'\")]*"), rf"\g<1>?{MASK}"),  # any query string
]


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` without ``secrets``, Airflow-masked values or anything shaped like a credential (a query
    string included): for text the product did not write, such as an exception's message."""
    text = remove_secrets(text, secrets)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def remove_secrets(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` without the given secrets (also URL-encoded) and what Airflow's masker knows; for text
    already scrubbed, where the patterns would only cut links. Secrets under 4 characters are left
    alone: they would mangle ordinary words."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, MASK).replace(quote(secret, safe=""), MASK)
    return _airflow_redact(text)


def _airflow_redact(text: str) -> str:
    """What Airflow's secrets masker knows (connection passwords a task read, ``mask_secret`` values)."""
    try:
        from airflow.sdk._shared.secrets_masker import redact
    except ImportError:  # outside Airflow, or a layout without the masker
        return text
    try:
        return str(redact(text))
    except Exception:  # masking is defence in depth; the patterns still run
        return text
