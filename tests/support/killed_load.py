"""A load run in a worker process of its own and killed (SIGKILL, no cleanup at all) once the sandbox has
received a given number of creates: what the crash tests of the load share."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from ml_connector.dag.context import RunContext
from ml_connector.sandbox.runtime import RunningSandbox
from support.sandbox import PipedriveApi, pipedrive_server

WORKER = """
import json, sys
from datetime import datetime
from ml_connector.mapping import load_mapping
from ml_connector.staging.area import StagingArea
from ml_connector.dag.context import RunContext
from ml_connector.dag.tasks import load
args = json.loads(sys.argv[1])
load(RunContext(dag_id=args["dag_id"], run_id=args["run_id"], mapping=load_mapping(args["mapping"]),
                area=StagingArea(args["root"]), mode="full_refresh",
                run_after=datetime.fromisoformat(args["run_after"])))
"""


def creates_sent(sandbox: RunningSandbox) -> int:
    """POSTs of organizations and persons the sandbox received (answered or not)."""
    by_route = pipedrive_server(sandbox).by_route()
    return int(by_route.get("POST /api/v2/organizations", 0)) + int(by_route.get("POST /api/v2/persons", 0))


def workday_ids(api: PipedriveApi, kind: str) -> Counter[str]:
    """How many live Pipedrive records of ``kind`` carry each Workday ID."""
    key = api.field_code(kind, "Workday ID" if kind == "organization" else "Workday contact ID")
    return Counter(r["custom_fields"][key] for r in api.records(f"{kind}s"))


def kill_load_after(
    ctx: RunContext, mapping: Path, sandbox: RunningSandbox, creates: int, *, within_s: float = 60
) -> None:
    """Run ``ctx``'s load (full refresh) in a worker process and SIGKILL it once the sandbox has received
    ``creates`` creates; fails when the load ended on its own first."""
    args = {
        "dag_id": ctx.dag_id,
        "run_id": ctx.run_id,
        "mapping": str(mapping),
        "root": str(ctx.area.root),
        "run_after": ctx.run_after.isoformat(),
    }
    worker = subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(args)], env=dict(os.environ))
    deadline = time.monotonic() + within_s
    while creates_sent(sandbox) < creates and time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.01)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL, f"the load ended before the kill point ({creates} creates)"
