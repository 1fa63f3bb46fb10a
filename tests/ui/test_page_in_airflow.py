"""The page in a real Airflow: ``airflow api-server`` (its own PostgreSQL database, migrated) loads the
plugin from the package's entry point; headless Chromium signs in through Airflow's login form, opens
the page from the navigation, searches a Workday ID and follows a run's link to Airflow's run page.

The screenshot is kept as a test artifact (``.artifacts/ui/audit-page.png``); ``docs/audit-page.png``,
which the README shows, is replaced by it with ``ML_CONNECTOR_UPDATE_DOCS=1`` (its dates change with
every run, so an ordinary run leaves the committed picture alone).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import requests
from cryptography.fernet import Fernet
from ledger_history import CUSTOMERS, HISTORY, WID, Ledger, write_history
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from support.cluster import BIN, ROOT, admin_sql, artifacts_dir, free_port, wait_for

from ml_connector.staging.area import StagingArea
from ml_connector.ui.plugin import NAV_ROUTE, URL_PREFIX

pytestmark = pytest.mark.timeout(240)
USER = "auditor"  # a viewer: may read DAGs, nothing more
SHOT = "audit-page.png"


@dataclass
class ApiServer:
    url: str
    home: Path
    ledger: Ledger

    def password(self) -> str:
        return str(json.loads((self.home / "passwords.json").read_text())[USER])

    def log(self) -> str:
        path = self.home / "api-server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


@pytest.fixture(scope="module")
def artifacts() -> Path:
    """Kept after the run (the screenshot, the server's log): CI keeps ``.artifacts/`` as artifacts."""
    return artifacts_dir("ui")


@pytest.fixture(scope="module")
def server(artifacts: Path) -> Iterator[ApiServer]:
    """``airflow api-server`` on a free port, a database of its own (dropped afterwards), the staging
    root in the artifacts folder holding :func:`conftest.write_history`'s ledger."""
    home = artifacts / "airflow"
    home.mkdir()
    ledger = write_history(StagingArea(f"file://{artifacts / 'staging'}"))
    database = f"ml_connector_ui_{os.getpid()}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "ML_CONNECTOR_"))}
    env.update(
        {
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:viewer",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__API__BASE_URL": url,
            "AIRFLOW__API_AUTH__JWT_SECRET": Fernet.generate_key().decode(),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}",
            "ML_CONNECTOR_STAGING_ROOT": str(ledger.area.root),
        }
    )
    admin_sql(f'DROP DATABASE IF EXISTS "{database}"')
    admin_sql(f'CREATE DATABASE "{database}"')
    process: subprocess.Popen[bytes] | None = None
    try:
        migrate = subprocess.run(
            [str(BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True, timeout=180
        )
        assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-3000:]
        with open(home / "api-server.log", "wb") as log:
            process = subprocess.Popen(
                [str(BIN / "airflow"), "api-server", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a process group of its own: its workers end with it
            )
        running = ApiServer(url, home, ledger)

        def healthy() -> bool:
            assert process is not None and process.poll() is None, f"api-server exited:\n{running.log()}"
            return requests.get(f"{url}/api/v2/monitor/health", timeout=5).status_code == 200

        def password_written() -> bool:
            with contextlib.suppress(ValueError, KeyError, OSError):
                return bool(running.password())
            return False

        wait_for("the API server", healthy, timeout=120, every=0.5)
        wait_for("the user's password", password_written, timeout=30, every=0.2)
        yield running
    finally:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # anything it left behind in its group
        admin_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture()
def browser(server: ApiServer) -> Iterator[WebDriver]:
    """Debian's Chromium, headless, 1280x900, signed in through Airflow's own login form."""
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert binary and driver, "install Debian's chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    try:
        width, height = chrome.execute_script("return [window.innerWidth, window.innerHeight]")
        chrome.set_window_size(2 * 1280 - width, 2 * 900 - height)  # the page itself 1280x900
        chrome.get(f"{server.url}/")
        WebDriverWait(chrome, 60).until(lambda d: d.find_elements(By.NAME, "username"))
        chrome.find_element(By.NAME, "username").send_keys(USER)
        chrome.find_element(By.NAME, "password").send_keys(server.password())
        chrome.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(chrome, 60).until(lambda d: "/auth/login" not in d.current_url)
        yield chrome
    finally:
        chrome.quit()


def test_the_page_api_needs_airflows_login(server: ApiServer) -> None:
    for path in ("/", "/api/runs", f"/api/history?id={WID}", "/usage.png"):
        response = requests.get(f"{server.url}{URL_PREFIX}{path}", timeout=30)
        assert response.status_code == 401, (path, response.text[:300])
        assert WID not in response.text
    assert requests.post(f"{server.url}{URL_PREFIX}/api/runs", timeout=30).status_code == 405
    login = requests.post(
        f"{server.url}/auth/token", json={"username": USER, "password": server.password()}, timeout=30
    )
    bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
    runs = requests.get(f"{server.url}{URL_PREFIX}/api/runs", headers=bearer, timeout=30)
    assert runs.status_code == 200, runs.text[:500]
    assert [run["run_id"] for run in runs.json()["customers"]] == server.ledger.runs[::-1]


def test_a_signed_in_user_opens_the_page_from_the_navigation_and_finds_a_records_history(
    server: ApiServer, browser: WebDriver, artifacts: Path
) -> None:
    nav = WebDriverWait(browser, 60).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, f"a[href$='/plugin/{NAV_ROUTE}']")
    )
    nav[0].click()
    frame = WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "iframe"))[0]
    browser.switch_to.frame(frame)
    search = WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.ID, "q"))[0]
    assert browser.find_elements(By.CSS_SELECTOR, "tr.run-row"), browser.page_source[:2000]
    search.send_keys(WID)
    browser.find_element(By.CSS_SELECTOR, "form[role=search] button").click()
    rows = WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "tr.history-row"))
    shown = [
        (
            row.find_element(By.CSS_SELECTOR, ".badge").text,
            " ".join(row.find_element(By.CSS_SELECTOR, f"td.{name}").text for name in ("changes", "reason")),
        )
        for row in rows
    ]
    assert [action for action, _ in shown] == [action for action, _ in HISTORY], shown
    for (_, text), (_, wanted) in zip(shown, HISTORY, strict=True):
        assert wanted in text, (text, wanted)
    chart = "const img = document.querySelector('img.chart'); return img.complete && img.naturalWidth;"
    assert WebDriverWait(browser, 30).until(lambda d: d.execute_script(chart)) > 600  # the PNG loaded
    browser.switch_to.default_content()
    # the frame's address is in the window's, so the search can be bookmarked and shared
    WebDriverWait(browser, 30).until(lambda d: f"q={WID}" in d.current_url)
    assert urlsplit(browser.current_url).path == f"/plugin/{NAV_ROUTE}{URL_PREFIX}/"
    browser.save_screenshot(str(artifacts / SHOT))
    docs = ROOT / "docs" / SHOT
    if os.environ.get("ML_CONNECTOR_UPDATE_DOCS") or not docs.exists():
        shutil.copyfile(artifacts / SHOT, docs)

    # a run's link opens Airflow's own run page in the whole window, not inside the frame
    browser.switch_to.frame(browser.find_element(By.CSS_SELECTOR, "iframe"))
    newest = server.ledger.runs[-1]
    browser.find_element(By.CSS_SELECTOR, "tr.history-row td:nth-child(2) a").click()
    browser.switch_to.default_content()
    WebDriverWait(browser, 30).until(lambda d: "/plugin/" not in d.current_url)
    assert unquote(urlsplit(browser.current_url).path) == f"/dags/{CUSTOMERS}/runs/{newest}"
    WebDriverWait(browser, 30).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "iframe"))
    browser.save_screenshot(str(artifacts / "run-page.png"))
