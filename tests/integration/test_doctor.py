"""``ml-connector doctor`` against the sandbox over HTTP: it passes on a correct setup, names each
broken setting precisely with its fix, and writes nothing to Workday, Pipedrive, staging or state (the
token vault aside, where a refresh stores the new token state exactly as the ``refresh_tokens`` task does)."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from support.sandbox import PipedriveApi, pipedrive_server, workday_server

from ml_connector.credentials.vault import TokenVault
from ml_connector.onboarding.doctor import add_doctor_parser, run_doctor
from ml_connector.sandbox.config import pipedrive_connection_uri
from ml_connector.sandbox.runtime import RunningSandbox

CUSTOMERS, SUPPLIERS = "workday_customers_to_pipedrive", "workday_suppliers_to_pipedrive"


@pytest.fixture()
def setup(fresh_sandbox: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunningSandbox:
    """A correct deployment: both connections on the sandbox, a staging root, one local executor."""
    staging = tmp_path / "staging"
    staging.mkdir()
    monkeypatch.setenv("ML_CONNECTOR_STAGING_ROOT", f"file://{staging}")
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    monkeypatch.setenv("AIRFLOW_CONN_WORKDAY_DEFAULT", fresh_sandbox.workday_conn_uri)
    monkeypatch.setenv("AIRFLOW_CONN_PIPEDRIVE_DEFAULT", fresh_sandbox.pipedrive_conn_uri)
    return fresh_sandbox


def doctor(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="ml-connector")
    add_doctor_parser(parser.add_subparsers(dest="command", required=True))
    status = run_doctor(parser.parse_args(["doctor", *argv]))
    return status, capsys.readouterr().out


def checks(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]]]:
    status, out = doctor(capsys, "--format", "json", *argv)
    return status, json.loads(out)


def find(found: list[dict[str, Any]], name: str, dag_id: str | None = None) -> dict[str, Any]:
    matches = [c for c in found if c["name"] == name and (dag_id is None or c["dag_id"] == dag_id)]
    assert len(matches) == 1, (name, found)
    return matches[0]


def failures(found: list[dict[str, Any]]) -> set[str]:
    return {c["name"] for c in found if c["status"] == "fail"}


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_correct_setup_passes_and_nothing_is_written(
    setup: RunningSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    staging, state = tmp_path / "staging", tmp_path / "state"
    (staging / "state" / "fields").mkdir(parents=True)
    (staging / "state" / "fields" / "pinned.json").write_text("{}")
    before_staging, before_state = snapshot(staging), snapshot(state) if state.exists() else {}

    status, found = checks(capsys)

    assert status == 0, [c for c in found if c["status"] == "fail"]
    assert failures(found) == set()
    for name in (
        "token refresh",
        "read customers",
        "read suppliers",
        "read contacts",
        "plan",
        "daily budget",
    ):
        assert {c["status"] for c in found if c["name"] == name} == {"ok"}, name
    tenant = workday_server(setup).summary()
    assert f"{tenant['customers']['total']:,} records" in find(found, "read customers")["message"]
    assert f"{tenant['contacts']['total']:,} records" in find(found, "read contacts")["message"]
    assert "60,000 tokens a day" in find(found, "daily budget")["message"]  # growth, one seat
    fields = find(found, "field definitions", CUSTOMERS)
    assert fields["status"] == "ok" and "the first run creates" in fields["message"]
    estimate = find(found, "initial sync", CUSTOMERS)
    assert f"{tenant['customers']['total']:,} customers" in estimate["message"]
    # read-only: Pipedrive saw only GETs, Workday only reads, staging is untouched, state only its vault
    assert pipedrive_server(setup).by_route() and all(
        route.startswith("GET ") for route in pipedrive_server(setup).by_route()
    )
    assert set(workday_server(setup).by_route()) <= {
        "POST /ccx/oauth2/{tenant}/token",
        "GET /ccx/service/{tenant}/Revenue_Management/{version}",
        "GET /ccx/service/{tenant}/Resource_Management/{version}",
        "POST /ccx/service/{tenant}/Revenue_Management/{version}",
        "POST /ccx/service/{tenant}/Resource_Management/{version}",
    }
    assert snapshot(staging) == before_staging
    after_state = snapshot(state)
    changed = {p for p in set(after_state) | set(before_state) if after_state.get(p) != before_state.get(p)}
    assert changed and all(p.startswith("credentials/") for p in changed), changed


def test_output_is_a_line_per_check_and_never_a_secret(
    setup: RunningSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out = doctor(capsys)
    assert status == 0
    lines = out.splitlines()
    assert any(line.startswith("✔ workday") and "token refresh" in line for line in lines)
    assert lines[-1].startswith("ready: ")
    for secret in setup.secrets_in_play():
        assert secret not in out


def test_dag_restricts_the_checks_and_an_unknown_one_is_refused(
    setup: RunningSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    status, found = checks(capsys, "--dag", SUPPLIERS)
    assert status == 0
    assert {c["dag_id"] for c in found} == {None, SUPPLIERS}
    assert not [c for c in found if c["name"] == "read customers"]
    status, out = doctor(capsys, "--dag", "nope")
    assert status == 2 and out == ""


def test_a_wrong_client_secret_is_named(
    setup: RunningSandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    creds = setup.config.workday
    monkeypatch.setenv(
        "AIRFLOW_CONN_WORKDAY_DEFAULT", setup.workday_conn_uri.replace(creds.client_secret, "not-the-secret")
    )
    status, found = checks(capsys)
    assert status == 1
    refresh = next(c for c in found if c["area"] == "workday" and c["name"] == "token refresh")
    assert refresh["status"] == "fail" and "client credentials were rejected" in refresh["message"]
    assert "not-the-secret" not in json.dumps(found)
    assert find(found, "operations")["status"] == "skip"


def test_a_revoked_refresh_token_is_named(setup: RunningSandbox, capsys: pytest.CaptureFixture[str]) -> None:
    workday_server(setup).control("POST", "/oauth", {"revoke_refresh_tokens": True})
    status, found = checks(capsys)
    assert status == 1
    refresh = next(c for c in found if c["area"] == "workday" and c["name"] == "token refresh")
    assert refresh["status"] == "fail"
    assert (
        "refresh token was rejected" in refresh["message"]
        and "Generate a new refresh token" in refresh["message"]
    )


def test_a_rotated_refresh_token_is_stored_in_the_vault(
    setup: RunningSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    server = workday_server(setup)
    server.control("POST", "/oauth", {"rotate": True})
    try:
        status, found = checks(capsys)
        refresh = next(c for c in found if c["area"] == "workday" and c["name"] == "token refresh")
        assert status == 0 and "rotated" in refresh["message"] and "token vault" in refresh["message"]
        stored = TokenVault.from_environment().read("workday_default")
        assert stored is not None and stored["refresh_token"] != setup.config.workday.refresh_token
        status, found = checks(capsys)  # the seed is dead now: only the vault's token can refresh
        assert status == 0, failures(found)
    finally:
        server.control("POST", "/oauth", {"rotate": False})


def test_a_missing_workday_permission_is_named(
    setup: RunningSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    workday_server(setup).control("POST", "/permissions", {"deny": ["Get_Suppliers"]})
    status, found = checks(capsys)
    assert status == 1
    assert failures(found) == {"read suppliers"}
    denied = find(found, "read suppliers")
    assert "Get_Suppliers is not allowed" in denied["message"] and "not authorized" in denied["message"]
    assert "View Security for Securable Item" in denied["fix"]
    assert find(found, "read customers")["status"] == "ok"


@pytest.mark.parametrize(
    ("plan", "seats", "failed", "fix"),
    [
        ("premium", 1, {"plan", "daily budget"}, 'plan to "growth"'),
        ("growth", 3, {"daily budget"}, "seats to 1"),
    ],
)
def test_a_wrong_plan_or_seat_count_is_named(
    setup: RunningSandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    plan: str,
    seats: int,
    failed: set[str],
    fix: str,
) -> None:
    uri = pipedrive_connection_uri(setup.pipedrive_url, setup.config.pipedrive, plan, seats)
    monkeypatch.setenv("AIRFLOW_CONN_PIPEDRIVE_DEFAULT", uri)
    status, found = checks(capsys)
    assert status == 1
    assert failures(found) == failed
    assert fix in find(found, "daily budget")["fix"]


def test_an_incompatible_pipedrive_field_is_named(
    setup: RunningSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    api = PipedriveApi(setup)
    created = api.call(
        "POST", "/api/v2/organizationFields", json={"field_name": "Workday country", "field_type": "double"}
    )
    assert created.status_code == 200, created.text
    before = api.fields("organization")
    status, found = checks(capsys, "--dag", CUSTOMERS)
    assert status == 1
    refused = find(found, "field definitions", CUSTOMERS)
    assert refused["status"] == "fail"
    assert "'Workday country'" in refused["message"] and "type 'double'" in refused["message"]
    assert api.fields("organization") == before  # nothing created


def test_a_staging_root_that_cannot_be_written_is_named(
    setup: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ML_CONNECTOR_STAGING_ROOT", f"file://{blocker}/staging")
    status, found = checks(capsys)
    assert status == 1
    writable = find(found, "staging root writable")
    assert writable["status"] == "fail" and "is not a folder" in writable["message"]
    assert "ML_CONNECTOR_STAGING_ROOT" in writable["fix"]


def test_a_local_root_with_a_distributed_executor_is_named(
    setup: RunningSandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    monkeypatch.delenv("ML_CONNECTOR_STAGING_ROOT")
    status, found = checks(capsys)
    assert status == 1
    shared = find(found, "staging root shared")
    assert shared["status"] == "fail" and "ML_CONNECTOR_STAGING_ROOT is not set" in shared["message"]
    assert find(found, "state directory shared")["status"] in ("ok", "warn")  # set by the fixture


def test_a_missing_fernet_key_is_named(
    setup: RunningSandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ML_CONNECTOR_FERNET_KEYS")
    status, found = checks(capsys)
    assert status == 1
    key = find(found, "Fernet key")
    assert key["status"] == "fail" and "ML_CONNECTOR_FERNET_KEYS" in key["message"]
    refresh = next(c for c in found if c["area"] == "workday" and c["name"] == "token refresh")
    assert refresh["status"] == "fail" and "No encryption key" in refresh["message"]


def test_a_mapping_source_the_tenant_names_otherwise_is_a_warning_with_the_types_seen(
    make_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ml_connector.sandbox.config import WorktagTypes

    renamed = make_sandbox(
        customers=30, suppliers=5, worktag_types=WorktagTypes.parse("industry=CUSTOM_WORKTAG_1")
    )
    monkeypatch.setenv("ML_CONNECTOR_STAGING_ROOT", f"file://{tmp_path / 'staging'}")
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    monkeypatch.setenv("AIRFLOW_CONN_WORKDAY_DEFAULT", renamed.workday_conn_uri)
    monkeypatch.setenv("AIRFLOW_CONN_PIPEDRIVE_DEFAULT", renamed.pipedrive_conn_uri)

    status, found = checks(capsys, "--dag", CUSTOMERS)

    coverage = [c for c in found if c["name"] == "coverage"]
    assert [c["status"] for c in coverage] == ["warn"], coverage
    assert (
        "no sampled customer has worktag type INDUSTRY; types seen: CUSTOM_WORKTAG_1 ("
        in coverage[0]["message"]
    )
    assert "ml-connector discover --entity customers" in coverage[0]["fix"]
    assert status == 0  # a warning: the sync would run, with that field left empty
