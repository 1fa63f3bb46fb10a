"""The operator's flows on a real Airflow: scheduler, api-server, dag-processor, triggerer and two Celery
workers as separate processes on PostgreSQL and Redis, driven only through the REST API v2 and the CLI.

The steps run in order against one deployment and one sandbox (each needs the state the one before left);
the last one stops everything and checks nothing is left behind.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg2
import pytest
from cryptography.fernet import Fernet
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from support.cluster import AirflowCluster, artifacts_dir, wait_for
from support.sandbox import PipedriveApi
from support.secrets import database_dump, file_texts, leaks
from support.sync_world import SyncWorld

from ml_connector.mapping import load_mapping
from ml_connector.sandbox.config import SandboxConfig
from ml_connector.sandbox.runtime import RunningSandbox, run_sandbox
from ml_connector.staging.area import StagingArea

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = ROOT / "include" / "mappings"

CUSTOMERS = "workday_customers_to_pipedrive"
SUPPLIERS = "workday_suppliers_to_pipedrive"
WRITES = (
    "POST /api/v2/organizations",
    "PATCH /api/v2/organizations/{id}",
    "POST /api/v2/persons",
    "PATCH /api/v2/persons/{id}",
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    config = SandboxConfig(customers=40, suppliers=20, seed=23, pipedrive_plan="ultimate", pipedrive_seats=2)
    with run_sandbox(config) as running:
        yield running


@pytest.fixture(scope="module")
def home() -> Path:
    """Kept after the run (process logs, task logs, screenshots): CI keeps ``.artifacts/`` as artifacts."""
    return artifacts_dir("cluster")


@pytest.fixture(scope="module")
def world(sandbox: RunningSandbox, home: Path) -> SyncWorld:
    def no_dag_test(*_: Any, **__: Any) -> Any:
        raise AssertionError("this test drives the real scheduler, not dag.test()")

    return SyncWorld(sandbox, StagingArea(f"file://{home / 'staging'}"), no_dag_test)


FOLLOWER = "follows_pipedrive_organizations"
# A downstream DAG as the README shows one: scheduled on the organizations the sync updates.
FOLLOWER_FILE = """\"\"\"Airflow DAG that follows the sync: it runs when Pipedrive organizations were updated.\"\"\"

from airflow.sdk import DAG, Asset, task

ORGANIZATIONS = Asset("{uri}")

with DAG("{dag_id}", schedule=[ORGANIZATIONS], is_paused_upon_creation=False):

    @task
    def follow(*, triggering_asset_events=None):
        for event in triggering_asset_events[ORGANIZATIONS]:
            print("followed", event.extra["entity"], "created", event.extra["created"])

    follow()
"""


def dag_folder(home: Path, sandbox: RunningSandbox) -> Path:
    """The project's two DAG files, and the downstream DAG that follows the sync's organizations."""
    folder = home / "dags"
    folder.mkdir(parents=True, exist_ok=True)
    for dag_file in (ROOT / "dags").glob("*.py"):
        shutil.copy(dag_file, folder / dag_file.name)
    uri = f"pipedrive://{urlsplit(sandbox.pipedrive_url).netloc}/organizations"
    (folder / f"{FOLLOWER}.py").write_text(FOLLOWER_FILE.format(uri=uri, dag_id=FOLLOWER), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def cluster(sandbox: RunningSandbox, home: Path) -> Iterator[AirflowCluster]:
    deployment = AirflowCluster(
        home / "airflow",
        {
            "AIRFLOW__CORE__DAGS_FOLDER": str(dag_folder(home, sandbox)),
            "AIRFLOW_CONN_WORKDAY_DEFAULT": sandbox.workday_conn_uri,
            "AIRFLOW_CONN_PIPEDRIVE_DEFAULT": sandbox.pipedrive_oauth_conn_uri,
            "ML_CONNECTOR_FERNET_KEYS": Fernet.generate_key().decode(),
            # shared by every worker, as a shared volume or bucket would be
            "ML_CONNECTOR_STATE_DIR": str(home / "state"),
            "ML_CONNECTOR_STAGING_ROOT": f"file://{home / 'staging'}",
        },
    )
    try:
        deployment.start()
        # the follower must be scheduled on the asset before the first load emits, as it would be in production
        wait_for(f"{FOLLOWER} parsed", lambda: FOLLOWER in deployment.dags(), timeout=240, every=2)
        yield deployment
    finally:
        deployment.stop()


def writes(world: SyncWorld) -> dict[str, int]:
    by_route = world.pipedrive_stats()["by_route"]
    return {route: int(by_route.get(route, 0)) for route in WRITES}


def made_since(world: SyncWorld, before: dict[str, int]) -> dict[str, int]:
    return {route: n - before[route] for route, n in writes(world).items()}


def succeeded(cluster: AirflowCluster, dag_id: str, run_id: str) -> dict[str, Any]:
    run = cluster.wait_run(dag_id, run_id)
    states = {ti["task_id"]: ti["state"] for ti in cluster.task_instances(dag_id, run_id)}
    assert run["state"] == "success", f"{dag_id} {run_id}: {states}\n{cluster.logs_tail()}"
    return run


def test_first_scheduled_runs_sync_every_record_exactly_once(
    cluster: AirflowCluster, world: SyncWorld
) -> None:
    tenant = world.workday("GET", "/workday/summary")
    for dag_id in (CUSTOMERS, SUPPLIERS):
        cluster.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
    contacts = 0
    for dag_id in (CUSTOMERS, SUPPLIERS):
        first = wait_for(f"the first run of {dag_id}", lambda d=dag_id: cluster.runs(d), timeout=120)[0]
        assert first["run_type"] == "scheduled"
        run_id = first["dag_run_id"]
        succeeded(cluster, dag_id, run_id)
        window = world.extract_meta(dag_id, run_id)["window"]
        assert window["reason"] == "no watermark yet: initial full load"
        extracted = world.area.read_table(world.area.stage_path(dag_id, run_id, "extracted_contacts"))
        rejected = world.area.read_table(world.area.stage_path(dag_id, run_id, "rejected")).to_pylist()
        contacts += extracted.num_rows - sum(1 for r in rejected if r["entity"] == "person")
    # every customer and every supplier is in exactly one organization (a company that is both is one)
    with PipedriveApi(world.sandbox) as api:
        roles = api.role_counts()
    assert roles == {"Customer": tenant["customers"]["total"], "Supplier": tenant["suppliers"]["total"]}
    assert world.duplicates("organizations", "Workday ID") == {}
    # every contact is one person (each contact is owned by one of the two DAGs)
    assert len(world.records("persons")) == contacts > 0
    assert world.duplicates("persons", "Workday contact ID") == {}


def test_a_dag_scheduled_on_the_organizations_asset_ran_after_the_first_sync(
    cluster: AirflowCluster, world: SyncWorld
) -> None:
    runs = wait_for(f"a run of {FOLLOWER}", lambda: cluster.runs(FOLLOWER), timeout=120)
    assert runs[0]["run_type"] == "asset_triggered"
    succeeded(cluster, FOLLOWER, runs[0]["dag_run_id"])
    # the events behind it: one per sync that created organizations, with the entity and counts in the extra
    uri = f"pipedrive://{urlsplit(world.sandbox.pipedrive_url).netloc}/organizations"
    events = cluster.api("GET", "/assets/events", params={"limit": 100})["asset_events"]
    ours = [e for e in events if e["uri"] == uri]
    assert {e["source_dag_id"] for e in ours} == {CUSTOMERS, SUPPLIERS}
    assert all(e["extra"]["created"] > 0 and e["extra"]["entity"] in ("customers", "suppliers") for e in ours)


def test_a_manual_reconcile_dry_run_writes_a_plan_and_nothing_else(
    cluster: AirflowCluster, world: SyncWorld
) -> None:
    before = writes(world)
    run_id = cluster.trigger(CUSTOMERS, conf={"mode": "reconcile", "dry_run": True})
    succeeded(cluster, CUSTOMERS, run_id)
    plan = world.area.read_table(world.area.stage_path(CUSTOMERS, run_id, "plan")).to_pylist()
    assert plan and {row["action"] for row in plan} <= {"unchanged", "skip", "rejected"}
    assert made_since(world, before) == dict.fromkeys(WRITES, 0)


def test_a_manual_incremental_run_with_a_logical_date_writes_exactly_the_changes(
    cluster: AirflowCluster, world: SyncWorld
) -> None:
    changed = world.workday("POST", "/workday/mutate", {"update_customers": 3, "create_customers": 2})
    before = writes(world)
    logical = datetime.now(UTC).replace(microsecond=0).isoformat()
    run_id = cluster.trigger(CUSTOMERS, conf={"mode": "incremental"}, logical_date=logical)
    succeeded(cluster, CUSTOMERS, run_id)
    made = made_since(world, before)
    assert made["POST /api/v2/organizations"] == len(changed["created_customers"])
    assert made["PATCH /api/v2/organizations/{id}"] == len(changed["updated_customers"])
    assert made["POST /api/v2/persons"] == len(changed["created_contacts"])


def test_a_backfill_of_three_daily_windows_reads_each_window(
    cluster: AirflowCluster, world: SyncWorld
) -> None:
    (scheduled,) = [r for r in cluster.runs(SUPPLIERS) if r["run_type"] == "scheduled"]
    last = datetime.fromisoformat(scheduled["logical_date"])
    start, end = last - timedelta(days=3), last - timedelta(days=1)
    backfill = cluster.api(
        "POST",
        "/backfills",
        json={
            "dag_id": SUPPLIERS,
            "from_date": start.isoformat(),
            "to_date": end.isoformat(),
            "max_active_runs": 1,
            "run_backwards": False,
            "reprocess_behavior": "none",
        },
    )

    def finished() -> bool:
        return bool(cluster.api("GET", f"/backfills/{backfill['id']}")["completed_at"])

    wait_for("the backfill to complete", finished, timeout=900, every=3)
    runs = [r for r in cluster.runs(SUPPLIERS) if r["run_type"] == "backfill"]
    assert sorted(datetime.fromisoformat(r["logical_date"]) for r in runs) == [
        start,
        start + timedelta(days=1),
        end,
    ]
    overlap = timedelta(minutes=load_mapping(MAPPINGS / "suppliers.yaml").overlap_minutes)
    for run in runs:
        succeeded(cluster, SUPPLIERS, run["dag_run_id"])
        window = world.extract_meta(SUPPLIERS, run["dag_run_id"])["window"]
        assert (
            datetime.fromisoformat(window["start"])
            == datetime.fromisoformat(run["data_interval_start"]) - overlap
        )
        assert datetime.fromisoformat(window["end"]) == datetime.fromisoformat(run["data_interval_end"])


def test_a_load_that_failed_for_good_succeeds_once_cleared(cluster: AirflowCluster, world: SyncWorld) -> None:
    changed = world.workday("POST", "/workday/mutate", {"update_suppliers": 3, "create_suppliers": 1})
    # Pipedrive's edge blocks every organization write: a person must act, so no retry
    world.pipedrive(
        "POST", "/faults", {"route": "PATCH /api/v2/organizations/{id}", "status": 403, "count": 1000}
    )
    run_id = cluster.trigger(SUPPLIERS, conf={"mode": "incremental"})
    run = cluster.wait_run(SUPPLIERS, run_id)
    states = {ti["task_id"]: ti for ti in cluster.task_instances(SUPPLIERS, run_id)}
    assert run["state"] == "failed" and states["load"]["state"] == "failed"
    assert states["load"]["try_number"] == 1

    world.pipedrive("DELETE", "/faults")
    cleared = cluster.api(
        "POST",
        f"/dags/{SUPPLIERS}/clearTaskInstances",
        json={"dag_run_id": run_id, "task_ids": ["load"], "include_downstream": True, "dry_run": False},
    )
    assert {ti["task_id"] for ti in cleared["task_instances"]} == {"load", "report"}

    def load_retried() -> bool:
        load = next(ti for ti in cluster.task_instances(SUPPLIERS, run_id) if ti["task_id"] == "load")
        return bool(load["try_number"] == 2 and load["state"] in ("success", "failed"))

    wait_for("the cleared load to run again", load_retried, timeout=600, every=2)
    succeeded(cluster, SUPPLIERS, run_id)
    # every PATCH was refused the first time, so the cleared load sends them; a create sent before the
    # block was journalled then and is not sent again
    assert world.summary(SUPPLIERS, run_id)["organizations"]["updated"] == len(changed["updated_suppliers"])
    id_key = world.field_key("organization", "Workday ID")
    ids = Counter(o["custom_fields"][id_key] for o in world.records("organizations"))
    assert all(ids[key] == 1 for key in changed["created_suppliers"])
    assert world.duplicates("organizations", "Workday ID") == {}
    assert world.duplicates("persons", "Workday contact ID") == {}
    # nothing missing: reading Pipedrive back, a reconcile finds nothing left to write
    check = cluster.trigger(SUPPLIERS, conf={"mode": "reconcile", "dry_run": True})
    succeeded(cluster, SUPPLIERS, check)
    plan = world.area.read_table(world.area.stage_path(SUPPLIERS, check, "plan")).to_pylist()
    assert [row for row in plan if row["action"] in ("create", "update")] == []


def test_the_tasks_of_one_run_ran_on_both_workers(cluster: AirflowCluster) -> None:
    spread = []
    for dag_id in (CUSTOMERS, SUPPLIERS):
        for run in cluster.runs(dag_id):
            if run["state"] == "success":
                hosts = {ti["hostname"] for ti in cluster.task_instances(dag_id, run["dag_run_id"])}
                spread.append(hosts)
    assert {"worker-1", "worker-2"} == set().union(*spread)
    assert any(hosts == {"worker-1", "worker-2"} for hosts in spread)  # and shared their staged files


@pytest.fixture()
def browser(cluster: AirflowCluster) -> Iterator[webdriver.Chrome]:
    """Debian's Chromium, headless, signed in through the UI's own login form."""
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert binary and driver, (
        "install Debian's chromium and chromium-driver (.ci/run does when they are missing)"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1000"):
        options.add_argument(arg)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    try:
        chrome.get(f"{cluster.api_url}/")
        WebDriverWait(chrome, 60).until(lambda d: d.find_elements(By.NAME, "username"))
        chrome.find_element(By.NAME, "username").send_keys("admin")
        chrome.find_element(By.NAME, "password").send_keys(cluster.password())
        chrome.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(chrome, 60).until(lambda d: "/auth/login" not in d.current_url)
        yield chrome
    finally:
        chrome.quit()


def page_shows(chrome: webdriver.Chrome, *texts: str, timeout: float = 60) -> str:
    """The page's visible text once it holds every one of ``texts``."""

    def shown(d: webdriver.Chrome) -> str | bool:
        text = str(d.find_element(By.TAG_NAME, "body").text)
        return text if all(t in text for t in texts) else False

    try:
        return str(WebDriverWait(chrome, timeout).until(shown))
    except TimeoutException:
        body = chrome.find_element(By.TAG_NAME, "body").text
        raise AssertionError(
            f"{chrome.current_url} does not show {texts}; it shows:\n{body[:3000]}"
        ) from None


def test_the_ui_shows_the_graph_a_task_log_and_the_trigger_form(
    cluster: AirflowCluster, browser: webdriver.Chrome, home: Path
) -> None:
    shots = home / "screenshots"
    shots.mkdir(exist_ok=True)
    tasks = ("refresh_tokens", "validate_field_definitions", "extract", "transform", "load", "report")
    run_id = next(r["dag_run_id"] for r in reversed(cluster.runs(CUSTOMERS)) if r["state"] == "success")

    browser.get(f"{cluster.api_url}/dags/{CUSTOMERS}/runs/{run_id}")
    WebDriverWait(browser, 60).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "button[aria-label^='Show Graph']")
    )[0].click()
    WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".react-flow__node"))
    nodes = {n.text.split("\n")[0] for n in browser.find_elements(By.CSS_SELECTOR, ".react-flow__node")}
    assert set(tasks) <= nodes
    browser.save_screenshot(str(shots / "graph.png"))

    browser.get(f"{cluster.api_url}/dags/{CUSTOMERS}/runs/{run_id}/tasks/load")
    page_shows(browser, "load finished", "audit action=")
    browser.save_screenshot(str(shots / "task_log.png"))

    browser.get(f"{cluster.api_url}/dags/{CUSTOMERS}")
    WebDriverWait(browser, 60).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "button[aria-label='Trigger Dag']")
    )[0].click()
    form = page_shows(browser, "Run Parameters", "mode", "dry_run", "updated_from", "updated_to")
    assert "incremental" in form  # the mode's default, with its description
    browser.save_screenshot(str(shots / "trigger_form.png"))


def test_no_credential_of_either_system_is_anywhere_the_deployment_wrote(
    cluster: AirflowCluster, sandbox: RunningSandbox, home: Path
) -> None:
    """Logs (process and task), staging, plans, ledger, state and the metadata database hold none of the
    configured secrets nor any access or refresh token issued during the runs (raw or URL-encoded)."""
    secrets = {s for s in sandbox.secrets_in_play() if len(s) >= 8}
    assert len(secrets) > 6  # access tokens were issued on both sides during the runs
    found = leaks(file_texts(home), secrets)
    dump = database_dump(cluster.database)
    assert "dag_run" in dump  # the dump holds the runs
    found |= leaks([("the metadata database", dump)], secrets)
    assert found == set()  # where a secret was found (never the secret itself)
    vault = list((home / "state" / "credentials").rglob("*"))
    assert any(p.is_file() for p in vault)  # the token vault is in use, and encrypted (scanned above)


def test_stopping_leaves_no_process_database_or_port(cluster: AirflowCluster) -> None:
    pids = [p.pid for p in cluster.processes.values()]
    cluster.stop()
    assert all(p.poll() is not None for p in cluster.processes.values())
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)  # the whole process group is gone
    admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (cluster.database,))
        assert cur.fetchone() is None
    admin.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", cluster.api_port))  # the API port is free again
