"""The page's FastAPI app on its own (FastAPI's TestClient), signed in with JWTs of Airflow's own auth
manager (SimpleAuthManager): who may see it, that it only reads, what it shows and that it escapes it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from ledger_history import CUSTOMERS, HISTORY, PIPEDRIVE_ID, SUPPLIERS, WID, Ledger, organization, write_run

from ml_connector.staging.area import StagingArea
from ml_connector.ui.app import create_app

PATHS = ("/", f"/?q={WID}", "/api/runs", f"/api/history?id={WID}", "/usage.png", "/page.js")
XSS = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def auth_manager(airflow_db: str) -> Iterator[Any]:
    """Airflow's configured auth manager (SimpleAuthManager), as the API server initialises it; its
    tokens are checked against the metadata database's revoked tokens, hence the database."""
    from airflow.api_fastapi.app import _AuthManagerState, init_auth_manager

    before = _AuthManagerState.instance
    yield init_auth_manager()
    _AuthManagerState.instance = before


def token(manager: Any, role: str | None, name: str = "alice") -> str:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return str(manager.generate_jwt(SimpleAuthManagerUser(username=name, role=role)))


@pytest.fixture()
def client(ledger: Ledger, auth_manager: Any) -> Iterator[TestClient]:
    with TestClient(create_app(area=lambda: ledger.area)) as test_client:
        yield test_client


@pytest.fixture()
def viewer(auth_manager: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(auth_manager, 'viewer')}"}


def test_anonymous_requests_and_bad_tokens_are_refused(client: TestClient) -> None:
    for path in PATHS:
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.json() == {"detail": "Not authenticated"}
        assert WID not in response.text
    for path in PATHS:
        response = client.get(path, headers={"Authorization": "Bearer not-a-jwt"})
        assert response.status_code == 403, path


def test_a_user_who_may_read_neither_dag_is_forbidden(client: TestClient, auth_manager: Any) -> None:
    headers = {"Authorization": f"Bearer {token(auth_manager, None, 'mallory')}"}  # signed in, no role
    for path in PATHS:
        response = client.get(path, headers=headers)
        assert response.status_code == 403, path
        assert WID not in response.text


def test_the_browser_session_cookie_signs_in_as_in_the_airflow_ui(
    client: TestClient, auth_manager: Any
) -> None:
    client.cookies.set("_token", token(auth_manager, "viewer"))
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_it_only_reads(client: TestClient, ledger: Ledger, auth_manager: Any) -> None:
    headers = {"Authorization": f"Bearer {token(auth_manager, 'admin')}"}
    files = {p: p.stat().st_mtime_ns for p in Path(str(ledger.area.root.path)).rglob("*")}
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for path in ("/", "/api/runs", "/api/history", "/usage.png"):
            response = client.request(method, path, headers=headers, json={"id": WID})
            assert response.status_code == 405, (method, path)
    for path in PATHS:
        assert client.get(path, headers=headers).status_code == 200, path
    assert {p: p.stat().st_mtime_ns for p in Path(str(ledger.area.root.path)).rglob("*")} == files


def test_everything_from_the_ledger_is_escaped(
    client: TestClient, ledger: Ledger, viewer: dict[str, str]
) -> None:
    evil_run = write_run(
        ledger.area,
        CUSTOMERS,
        ledger.now,
        [organization(XSS, "rejected", reason='<img src=x onerror="alert(2)">', changes='<b onclick="x()">')],
    )
    page = client.get("/", params={"q": XSS}, headers=viewer).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the key, in the heading and in the row
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in page
    assert "&lt;b onclick=&#34;x()&#34;&gt;" in page
    for raw in (XSS, "<img src=x", "<b onclick"):
        assert raw not in page
    assert page.count("<script") == 1  # the page's own script tag, nothing else
    # a query that is markup is shown as text too, also when nothing is found
    missing = client.get("/", params={"q": '"><svg onload=alert(3)>'}, headers=viewer).text
    assert "<svg" not in missing and "&#34;&gt;&lt;svg onload=alert(3)&gt;" in missing
    assert evil_run in page  # the run is listed (its id is plain text)


def test_a_records_history_newest_first_by_workday_or_pipedrive_id(
    client: TestClient, viewer: dict[str, str]
) -> None:
    for ident in (WID, str(PIPEDRIVE_ID), f"  {WID} "):
        rows = client.get("/api/history", params={"id": ident}, headers=viewer).json()
        assert [row["action"] for row in rows] == [action for action, _ in HISTORY], ident
        assert [row["ts"] for row in rows] == sorted((row["ts"] for row in rows), reverse=True)
    shown = [(row["action"], row["reason"] or row["changes"]) for row in rows]
    for (action, text), (want_action, want_text) in zip(shown, HISTORY, strict=True):
        assert action == want_action and want_text in text
    page = client.get("/", params={"q": WID}, headers=viewer).text
    positions = [
        page.index(f">{action}</span>", page.index('id="history"')) for action in ("rejected", "unchanged")
    ]
    assert positions == sorted(positions)  # rejected (newest) above unchanged
    unknown = client.get("/api/history", params={"id": "CUS-999999"}, headers=viewer)
    assert unknown.status_code == 404 and "no history for CUS-999999" in unknown.json()["detail"]
    assert "no history for CUS-999999" in client.get("/", params={"q": "CUS-999999"}, headers=viewer).text


def test_recent_runs_with_counts_tokens_incidents_and_links_to_airflow(
    client: TestClient, ledger: Ledger, viewer: dict[str, str]
) -> None:
    runs = client.get("/api/runs", headers=viewer).json()
    assert set(runs) == {"customers", "suppliers"}
    assert [run["run_id"] for run in runs["customers"]] == ledger.runs[::-1]
    by_id = {run["run_id"]: run for run in runs["customers"]}
    assert by_id[ledger.incident_run]["incidents"] == {"burst": 1}
    assert sum(sum(run["incidents"].values()) for run in runs["customers"]) == 1
    assert by_id[ledger.runs[0]]["counts"]["organizations"] == "read 1201 · created 1201"
    assert by_id[ledger.runs[0]]["tokens"] == 6035
    assert runs["suppliers"][0]["status"].startswith("no report")
    page = client.get("/", headers=viewer).text
    run = ledger.incident_run.replace("+", "%2B").replace(":", "%3A")
    assert f'href="/dags/{CUSTOMERS}/runs/{run}"' in page
    assert f'href="/dags/{CUSTOMERS}/runs/{run}/tasks/load?try_number=1"' in page
    assert f"/dags/{SUPPLIERS}/runs/" in page


def test_a_user_sees_only_the_dags_they_may_read(
    client: TestClient, auth_manager: Any, viewer: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def customers_only(*, method: str, user: Any, access_entity: Any = None, details: Any = None) -> bool:
        return method == "GET" and details is not None and details.id == CUSTOMERS

    monkeypatch.setattr(auth_manager, "is_authorized_dag", customers_only)
    assert set(client.get("/api/runs", headers=viewer).json()) == {"customers"}
    assert client.get("/api/history", params={"id": "SUP-100000"}, headers=viewer).status_code == 404
    assert client.get("/api/history", params={"id": WID}, headers=viewer).status_code == 200
    assert SUPPLIERS not in client.get("/", headers=viewer).text


def test_the_usage_chart_is_a_png(client: TestClient, viewer: dict[str, str]) -> None:
    response = client.get("/usage.png", headers=viewer)
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")


def test_an_empty_staging_root_shows_an_empty_page(tmp_path: Path, viewer: dict[str, str]) -> None:
    with TestClient(create_app(area=lambda: StagingArea(f"file://{tmp_path}"))) as empty:
        page = empty.get("/", headers=viewer)
        assert page.status_code == 200 and "No runs in the ledger yet." in page.text
        assert empty.get("/usage.png", headers=viewer).status_code == 200


def test_importing_the_plugin_builds_nothing() -> None:
    """Airflow imports plugins in every component: the import defines the plugin and nothing else."""
    code = (
        "import json, sys\n"
        "from ml_connector.ui.plugin import MlConnectorPlugin as P\n"
        "print(json.dumps({'loaded': sorted(sys.modules), 'views': P.external_views,"
        " 'apps': [{k: v for k, v in a.items() if k != 'app'} for a in P.fastapi_apps]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    facts = json.loads(out.strip().splitlines()[-1])
    heavy = (
        "ml_connector.ui.app",
        "ml_connector.audit",
        "ml_connector.staging",
        "pandas",
        "fastapi",
        "matplotlib",
    )
    assert [m for m in facts["loaded"] if m.startswith(heavy)] == []
    [app] = facts["apps"]
    assert app["url_prefix"] == "/ml-connector"
    [view] = facts["views"]
    assert view["href"] == "/ml-connector/" and view["destination"] == "nav" and view["url_route"]
