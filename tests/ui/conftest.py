"""The page's tests share one realistic ledger (:mod:`ledger_history`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ledger_history import Ledger, write_history

from ml_connector.staging.area import StagingArea


@pytest.fixture()
def ledger(tmp_path: Path) -> Ledger:
    return write_history(StagingArea(f"file://{tmp_path / 'staging'}"))
