"""The audit trail: what the connector did to each record, and why, kept where people can ask it.

- :mod:`.ledger` owns the ledger files (schema, layout, retention, compaction) and reads them back;
- :mod:`.trail` collects one task's rows and log lines while it runs;
- :mod:`.events` carries rate-limit incidents and token refreshes from the hooks to the trail;
- :mod:`.summary` is a load's counts and what makes a run incomplete;
- :mod:`.query` answers the questions (a record's history, a run, token usage); :mod:`.cli` prints them;
  :mod:`.plot` draws the token-usage chart.

The names below load on first use: the hooks import :mod:`.events`, and the ``ml-connector`` command
starts without pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ml_connector.audit.ledger import LEDGER_SCHEMA
    from ml_connector.audit.summary import KindCounts, LoadSummary, RunIncomplete, defer_run, shortfall
    from ml_connector.audit.trail import AuditTrail, audit_line, log_value

_HOMES = {
    "LEDGER_SCHEMA": "ledger",
    "KindCounts": "summary",
    "LoadSummary": "summary",
    "RunIncomplete": "summary",
    "defer_run": "summary",
    "shortfall": "summary",
    "AuditTrail": "trail",
    "audit_line": "trail",
    "log_value": "trail",
}
__all__ = [
    "LEDGER_SCHEMA",
    "AuditTrail",
    "KindCounts",
    "LoadSummary",
    "RunIncomplete",
    "audit_line",
    "defer_run",
    "log_value",
    "shortfall",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
