"""``make demo`` runs ``ml-connector demo``; it must keep working end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_tours_both_apis_and_exits_zero() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ml_connector.cli", "demo", "--customers", "40", "--suppliers", "10"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "Get_Customers page 1/2: 25 of 40 customers" in out
    assert "organization read back: Workday ID='CUS-" in out
    assert "Demo finished." in out
