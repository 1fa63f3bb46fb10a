"""``make demo`` runs ``ml-connector demo``: both DAGs twice on the project's Airflow against the sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_syncs_both_entities_twice_and_exits_zero(tmp_path: Path) -> None:
    """Run as a user would outside the Makefile: no Airflow setting at all, from a folder that is not the
    checkout; the demo picks its own Airflow home (./.airflow) and DAG folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "ML_CONNECTOR_"))}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ml_connector.cli",
            "demo",
            "--customers",
            "30",
            "--suppliers",
            "15",
            "--pipedrive-plan",
            "ultimate",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "Demo finished." in out
    assert f"Airflow home: {tmp_path / '.airflow'}; DAG folder: {tmp_path / '.airflow' / 'demo'}" in out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("customers", "suppliers"))]
    table = {(row[0], row[1] + " " + row[2]): row[3:] for row in rows if len(row) == 13}
    assert set(table) == {
        ("customers", "first sync"),
        ("customers", "after changes"),
        ("suppliers", "first sync"),
        ("suppliers", "after changes"),
    }
    created_first = int(table[("customers", "first sync")][1])
    assert created_first >= 30
    after = table[("customers", "after changes")]
    assert int(after[1]) > 0 and int(after[2]) > 0 and int(after[3]) > 0  # created, updated, unchanged
    suppliers_after = table[("suppliers", "after changes")]
    assert int(suppliers_after[2]) > 0  # the changed suppliers were in the second round's window
    rejected = int(after[4]) + int(suppliers_after[4])
    assert rejected == 2  # exactly the two contacts whose emails the demo corrupts
    # onboarding came first: discover wrote both mappings from the renamed worktag types, doctor passed
    assert out.count("Wrote a starter mapping to ") == 2
    assert "0 failed" in out.split("== ml-connector doctor", 1)[1].split("== workday_", 1)[0]
    (written,) = (tmp_path / ".airflow" / "demo").glob("*/mappings/customers.yaml")
    assert "source: worktags.CUSTOM_WORKTAG_1" in written.read_text(encoding="utf-8")
