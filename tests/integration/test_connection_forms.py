"""The connection forms as the Airflow UI renders them: saved unchanged plus the credentials, each auth
kind connects to the sandbox; no setting is masked; every extra the README documents has a field."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

from ml_connector.hooks import pipedrive_config, workday_config
from ml_connector.hooks.pipedrive import PipedriveHook
from ml_connector.hooks.workday import WorkdayHook
from ml_connector.sandbox.runtime import RunningSandbox

ROOT = Path(__file__).resolve().parents[2]
SECRET_FIELDS = {"refresh_token"}


def rendered_form(conn_type: str) -> dict[str, Any]:
    """``{field: the value the form shows}``, from the endpoint the UI's connection form calls."""
    (meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == conn_type]
    assert meta.extra_fields
    return {name: spec["value"] for name, spec in meta.extra_fields.items()}


def saved(conn_type: str, host: str, **fields: Any) -> str:
    """The connection the form saves: its standard fields, and every extra field as shown or edited."""
    form = {**rendered_form(conn_type), **fields.pop("extra", {})}
    extra = {name: value for name, value in form.items() if value is not None}
    url = urlsplit(host)
    extra["protocol"] = url.scheme  # the one choice a sandbox needs: http
    return json.dumps(
        {"conn_type": conn_type, "host": url.hostname, "port": url.port, "extra": extra, **fields}
    )


@pytest.mark.parametrize("conn_type", ["workday", "pipedrive"])
def test_no_setting_is_masked_in_the_form(conn_type: str) -> None:
    for name, value in rendered_form(conn_type).items():
        assert value != "***", f"{conn_type} field {name} is shown masked"
    assert rendered_form("pipedrive")["oauth_url"] == "https://oauth.pipedrive.com/oauth/token"


def test_the_hooks_name_their_default_connections() -> None:
    assert WorkdayHook.default_conn_name == "workday_default" == WorkdayHook().workday_conn_id
    assert PipedriveHook.default_conn_name == "pipedrive_default" == PipedriveHook().pipedrive_conn_id


@pytest.mark.parametrize(
    ("conn_type", "known", "heading"),
    [
        ("workday", workday_config._KNOWN_EXTRAS - {"tenant"}, "### Workday"),
        ("pipedrive", pipedrive_config._KNOWN_EXTRAS - {"oauth_token_url"}, "### Pipedrive"),
    ],
)
def test_every_documented_and_every_accepted_extra_has_a_labelled_field(
    conn_type: str, known: frozenset[str], heading: str
) -> None:
    (meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == conn_type]
    assert meta.extra_fields
    fields = {name for name, spec in meta.extra_fields.items() if spec["schema"].get("title")}
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(heading) :]
    section = section[: section.index("```")]
    documented = {
        name
        for row in section.splitlines()
        if row.startswith("| `")
        for name in re.findall(r"`([a-z_]+)`", row.split("|")[1])
    }
    assert documented and documented <= fields, documented - fields
    assert known <= fields, known - fields


@pytest.mark.parametrize("auth_kind", ["oauth2_refresh_token", "isu"])
def test_workday_form_connects_for_each_auth_kind(
    fresh_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch, auth_kind: str
) -> None:
    creds = fresh_sandbox.config.workday
    login, password, extra = (
        (creds.client_id, creds.client_secret, {"refresh_token": creds.refresh_token})
        if auth_kind == "oauth2_refresh_token"
        else (creds.isu_username, creds.isu_password, {"auth_kind": "isu"})
    )
    form = saved(
        "workday", fresh_sandbox.workday_url, schema=creds.tenant, login=login, password=password, extra=extra
    )
    monkeypatch.setenv("AIRFLOW_CONN_WORKDAY_FORM", form)
    ok, message = WorkdayHook("workday_form").test_connection()
    assert ok, message
    assert "customers via soap" in message and "suppliers via soap" in message


def test_pipedrive_form_with_an_api_token_connects(
    fresh_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = fresh_sandbox.config.pipedrive
    monkeypatch.setenv(
        "AIRFLOW_CONN_PIPEDRIVE_FORM",
        saved("pipedrive", fresh_sandbox.pipedrive_url, password=creds.api_token),
    )
    ok, message = PipedriveHook("pipedrive_form").test_connection()
    assert ok, message


def test_pipedrive_form_with_oauth_connects(
    fresh_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = fresh_sandbox.config.pipedrive
    form = {
        "auth_kind": "oauth2",
        "refresh_token": creds.refresh_token,
        "oauth_url": f"{fresh_sandbox.pipedrive_url}/oauth/token",  # the sandbox's, not Pipedrive's
    }
    monkeypatch.setenv(
        "AIRFLOW_CONN_PIPEDRIVE_FORM",
        saved(
            "pipedrive",
            fresh_sandbox.pipedrive_url,
            login=creds.client_id,
            password=creds.client_secret,
            extra=form,
        ),
    )
    hook = PipedriveHook("pipedrive_form")
    assert hook.config.oauth_url == form["oauth_url"]
    ok, message = hook.test_connection()
    assert ok, message


def test_the_form_default_token_endpoint_is_pipedrive_s(monkeypatch: pytest.MonkeyPatch) -> None:
    """Saved unchanged, the OAuth form keeps Pipedrive's real token endpoint (it used to save ***)."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_PIPEDRIVE_FORM",
        saved(
            "pipedrive",
            "https://api.pipedrive.com",
            login="client-id",
            password="client-secret",
            extra={"auth_kind": "oauth2", "refresh_token": "a-form-refresh-token"},
        ),
    )
    assert PipedriveHook("pipedrive_form").config.oauth_url == "https://oauth.pipedrive.com/oauth/token"
