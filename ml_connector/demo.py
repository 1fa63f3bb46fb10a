"""``make demo``: the real sync, end to end, on the sandbox and the project's own Airflow.

1. start the sandbox (thousands of Workday customers and suppliers with contacts, their worktag types
   named as a real tenant names them: ``CUSTOM_WORKTAG_1`` rather than ``INDUSTRY``);
2. onboard it as the README's setup does: ``ml-connector discover`` writes a mapping per entity from what
   the records hold (the DAGs use those), and ``ml-connector doctor`` checks the whole setup;
3. run both DAGs with ``airflow dags test`` (a full refresh: the first sync);
4. change Workday (new, updated, deactivated customers and suppliers, contacts with broken emails);
5. run both DAGs again (incremental: from the first round's watermark to now);
6. print per entity and round: read, created, updated, unchanged, rejected, deferred, Pipedrive
   requests and tokens spent.

The demo needs nothing set up: its Airflow home is ``$AIRFLOW_HOME``, else ``.airflow/`` in the current
folder (the project's), and its DAG folder is ``dags/`` of the current folder when that holds the two DAG
files (a checkout), else a folder it writes them into. Each demo run works in a fresh folder under
``<Airflow home>/demo/`` (staging, state, token vault), since the sandbox starts from its seed every time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from cryptography.fernet import Fernet

from ml_connector.sandbox.config import SandboxConfig
from ml_connector.sandbox.runtime import RunningSandbox, run_sandbox
from ml_connector.staging.area import StagingArea
from ml_connector.staging.files import staged_runs

DAG_IDS = {"customers": "workday_customers_to_pipedrive", "suppliers": "workday_suppliers_to_pipedrive"}
CHANGES = {
    "create_customers": 12,
    "update_customers": 25,
    "deactivate_customers": 5,
    "create_suppliers": 6,
    "update_suppliers": 15,
    "deactivate_suppliers": 3,
    "update_contacts": 20,
    "corrupt_contact_emails": 2,
}
# Airflow's safe mode only parses files that mention both "airflow" and "dag": the docstring does.
DAG_FILE = """\"\"\"Airflow DAG: Workday {entity} into Pipedrive (written by ml-connector demo).\"\"\"

from ml_connector.dag.factory import build_sync_dag, mapping_path

dag = build_sync_dag(mapping_path("{entity}", __file__))
"""
# Records discover samples per entity.
DISCOVER_SAMPLE = 200
COLUMNS = ("read", "created", "updated", "unchanged", "rejected", "conflicts", "deferred")


def _airflow(*args: str, env: dict[str, str], quiet: bool = False) -> None:
    command = [str(Path(sys.executable).with_name("airflow")), *args]
    result = subprocess.run(command, env=env, capture_output=quiet, text=True, check=False)
    if result.returncode != 0:
        if quiet:
            print(result.stdout[-4000:], result.stderr[-4000:], sep="\n", file=sys.stderr)
        raise RuntimeError(f"'airflow {' '.join(args[:2])}' failed with exit code {result.returncode}")


def _stats(url: str) -> dict[str, Any]:
    return dict(requests.get(f"{url}/_sandbox/stats", timeout=30).json())


def _run_ids(area: StagingArea, dag_id: str) -> set[str]:
    return {run.run_id for run in staged_runs(area, dag_id)}


def _new_summary(area: StagingArea, dag_id: str, before: set[str]) -> dict[str, Any]:
    """The summary of the one run of ``dag_id`` staged since ``before`` was taken."""
    (run,) = [run for run in staged_runs(area, dag_id) if run.run_id not in before]
    return dict(run.read_document("summary"))


def _counts(summary: dict[str, Any]) -> dict[str, int]:
    """Organization and person figures of one load summary, added up per column."""
    totals = dict.fromkeys(COLUMNS, 0)
    for kind in ("organizations", "persons"):
        for column in COLUMNS:
            totals[column] += int((summary.get(kind) or {}).get(column, 0))
    return totals


def airflow_home() -> Path:
    """``$AIRFLOW_HOME``, else the project's own ``.airflow/`` in the current folder."""
    return Path(os.environ.get("AIRFLOW_HOME") or ".airflow").resolve()


def dag_folder(workdir: Path) -> Path:
    """The checkout's ``dags/`` when run from one; otherwise the two DAG files, written for this demo."""
    checkout = Path("dags").resolve()
    if all((checkout / f"{dag_id}.py").is_file() for dag_id in DAG_IDS.values()):
        return checkout
    folder = workdir / "dags"
    folder.mkdir(parents=True, exist_ok=True)
    for entity, dag_id in DAG_IDS.items():
        (folder / f"{dag_id}.py").write_text(DAG_FILE.format(entity=entity), encoding="utf-8")
    return folder


def _environment(sandbox: RunningSandbox, home: Path, workdir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dag_folder(workdir)),
        "AIRFLOW_CONN_WORKDAY_DEFAULT": sandbox.workday_conn_uri,
        "AIRFLOW_CONN_PIPEDRIVE_DEFAULT": sandbox.pipedrive_oauth_conn_uri,
        "ML_CONNECTOR_FERNET_KEYS": Fernet.generate_key().decode(),
        "ML_CONNECTOR_STATE_DIR": str(workdir / "state"),
        "ML_CONNECTOR_STAGING_ROOT": f"file://{workdir / 'staging'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }


def run_demo(config: SandboxConfig) -> int:
    home = airflow_home()
    workdir = home / "demo" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    with run_sandbox(config) as sandbox:
        env = _environment(sandbox, home, workdir)
        area = StagingArea(env["ML_CONNECTOR_STAGING_ROOT"])
        print(f"Sandbox: Workday {sandbox.workday_url}, Pipedrive {sandbox.pipedrive_url}", flush=True)
        print(f"Working folder: {workdir}", flush=True)
        print(f"Airflow home: {home}; DAG folder: {env['AIRFLOW__CORE__DAGS_FOLDER']}", flush=True)
        print("Preparing the Airflow metadata database ...", flush=True)
        _airflow("db", "migrate", env=env, quiet=True)
        env = _onboard(env, workdir)
        rows: list[tuple[str, str, dict[str, int], int, int, float]] = []
        # `airflow dags test` makes manual runs: the second round reads from the first one's watermark to now.
        rounds = (
            ("first sync", {"mode": "full_refresh"}),
            ("after changes", {"mode": "incremental"}),
        )
        for label, conf in rounds:
            if label == "after changes":
                changed = requests.post(
                    f"{sandbox.workday_url}/_sandbox/workday/mutate", json=CHANGES, timeout=60
                ).json()
                print(
                    f"\nWorkday changed: {', '.join(f'{k} {len(v)}' for k, v in changed.items() if isinstance(v, list))}"
                )
            for entity, dag_id in DAG_IDS.items():
                print(f"\n== {dag_id}: {label} ({conf['mode']})", flush=True)
                before = _stats(sandbox.pipedrive_url)
                runs_before = _run_ids(area, dag_id)
                started = time.monotonic()
                _airflow("dags", "test", dag_id, "-c", json.dumps(conf), env=env, quiet=True)
                elapsed = time.monotonic() - started
                after = _stats(sandbox.pipedrive_url)
                counts = _counts(_new_summary(area, dag_id, runs_before))
                requests_made = after["requests_total"] - before["requests_total"]
                tokens = after.get("tokens_spent", 0) - before.get("tokens_spent", 0)
                rows.append((entity, label, counts, requests_made, tokens, elapsed))
                print(
                    f"   done in {elapsed:.1f}s: {counts}, {requests_made} Pipedrive requests, {tokens} tokens"
                )
    _print_table(rows)
    root = env["ML_CONNECTOR_STAGING_ROOT"]
    print(
        "\nThe audit trail of these runs (ml-connector audit --help):\n"
        f"  ml-connector audit run --last --dag {DAG_IDS['customers']} --root {root}\n"
        f"  ml-connector audit usage --days 1 --root {root}"
    )
    print("\nDemo finished.")
    return 0


def _onboard(env: dict[str, str], workdir: Path) -> dict[str, str]:
    """What a new user does first: ``discover`` writes each entity's mapping from the tenant's records,
    the DAGs are pointed at them, and ``doctor`` checks the setup. Returns the DAGs' environment."""
    mappings = workdir / "mappings"
    for entity in DAG_IDS:
        target = mappings / f"{entity}.yaml"
        print(
            f"\n== ml-connector discover --entity {entity} --sample {DISCOVER_SAMPLE} --write {target}",
            flush=True,
        )
        _cli(
            "discover", "--entity", entity, "--sample", str(DISCOVER_SAMPLE), "--write", str(target), env=env
        )
    env = {**env, "ML_CONNECTOR_MAPPINGS_DIR": str(mappings)}
    print("\n== ml-connector doctor", flush=True)
    _cli("doctor", env=env)
    return env


def _cli(*args: str, env: dict[str, str]) -> None:
    """One ``ml-connector`` command, its output shown; the demo stops if it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "ml_connector.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    print(result.stdout, end="", flush=True)
    if result.returncode != 0:
        print(result.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"ml-connector {args[0]} failed (exit {result.returncode}); see above")


def _print_table(rows: list[tuple[str, str, dict[str, int], int, int, float]]) -> None:
    header = ("entity", "round", *COLUMNS, "requests", "tokens", "seconds")
    table = [header] + [
        (entity, label, *(str(counts[c]) for c in COLUMNS), str(req), str(tok), f"{secs:.0f}")
        for entity, label, counts, req, tok, secs in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print("\nSummary (organizations and persons together; requests and tokens are Pipedrive's)")
    for row in table:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
