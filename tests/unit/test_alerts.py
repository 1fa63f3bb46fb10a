"""Alerts, without a network: which causes raise one, what it says, that its text holds no secret, the
mapping file's ``alerts:`` section, and what the DAG's tasks get as ``on_failure_callback``."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import MagicMock

import pytest
import yaml

from ml_connector.alerts import Alert, RunFigures, failure_alert, run_alerts
from ml_connector.alerts.causes import MAX_KEYS
from ml_connector.alerts.notifiers import (
    AlertDeliveryFailed,
    EmailNotifier,
    LogNotifier,
    WebhookNotifier,
    failure_callbacks,
    webhook_url,
)
from ml_connector.alerts.send import send_alerts
from ml_connector.alerts.settings import AlertSettings, WebhookSettings
from ml_connector.audit import RunIncomplete
from ml_connector.credentials.oauth import TokenRejected
from ml_connector.http.errors import CredentialRejected, RetriesExhausted, TransientError
from ml_connector.mapping import MappingError, parse_mapping
from ml_connector.scrub import scrub

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = ROOT / "include" / "mappings"
TOKEN = "tok-9f8e7d6c5b4a3210"


@pytest.fixture(autouse=True)
def _fresh_masker() -> None:
    """Airflow's secrets masker is process-wide: values other tests registered (a sandbox refresh token
    called "refresh", say) would mask words of the fix texts checked here."""
    from airflow.sdk._shared.secrets_masker.secrets_masker import reset_secrets_masker

    reset_secrets_masker()


def _context(error: object, task_id: str = "load") -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="workday_suppliers_to_pipedrive", task_id=task_id, run_id="r1", log_url=None)
    return {"ti": ti, "exception": error}


def _figures(**overrides: Any) -> RunFigures:
    base: dict[str, Any] = {
        "dag_id": "workday_customers_to_pipedrive",
        "run_id": "r7",
        "entity": "customers",
        "summary": {"organizations": {"conflicts": 0}, "persons": {"conflicts": 0}},
    }
    return RunFigures(**{**base, **overrides})


# -- failures -------------------------------------------------------------------------------------------------
def test_a_rejected_credential_names_the_connection_and_keeps_the_fix() -> None:
    error = CredentialRejected(
        "workday",
        "connection 'workday_default': Workday rejected the credentials (x); check the ISU password",
    )
    alert = failure_alert(_context(error, "extract"))
    assert alert.cause == "credential_rejected"
    assert "credential rejected on connection 'workday_default'" in alert.subject
    assert "check the ISU password" in alert.body and "Issue a new credential" in alert.body


def test_a_failed_token_refresh_inside_another_error_is_a_rejected_credential() -> None:
    refresh = TokenRejected(
        "pipedrive",
        "refused. Generate a new refresh token",
        conn_id="pd_oauth",
        oauth_error="invalid_grant",
        status=400,
    )
    try:
        try:
            raise refresh
        except TokenRejected as inner:
            raise RetriesExhausted("pipedrive", "gave up") from inner
    except RetriesExhausted as outer:
        alert = failure_alert(_context(outer))
    assert alert.cause == "credential_rejected" and "'pd_oauth'" in alert.subject
    assert "Generate a new refresh token" in alert.body


def test_an_incomplete_run_has_its_own_subject() -> None:
    alert = failure_alert(
        _context(RunIncomplete("run r1 is incomplete: 2 record(s) failed to write"), "report")
    )
    assert alert.cause == "run_incomplete" and "run incomplete" in alert.subject
    assert "2 record(s) failed to write" in alert.body


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        (MappingError("customers.yaml", [("schedule", "bad cron")]), "needs a person"),
        (TransientError("pipedrive", "HTTP 503"), "after its retries"),
        (KeyError("x"), "after its retries"),
    ],
)
def test_any_other_failure_names_the_task_and_what_to_do(error: BaseException, advice: str) -> None:
    alert = failure_alert(_context(error, "transform"))
    assert alert.cause == "task_failed" and alert.subject.endswith("task transform failed")
    assert advice in alert.body and type(error).__name__ in alert.body


def test_a_failure_alert_carries_no_credential_from_the_error() -> None:
    error = RuntimeError(
        f"GET https://api.example.com/v1/x?api_token={TOKEN} failed; Authorization: Bearer {TOKEN}; "
        f"proxy http://user:{TOKEN}@proxy:3128; body {{'client_secret': '{TOKEN}'}}"
    )
    alert = failure_alert(_context(error))
    assert TOKEN not in alert.subject + alert.body
    assert "https://api.example.com/v1/x?***" in alert.body  # where it went is still said


@pytest.mark.parametrize(
    "text",
    [
        f"password={TOKEN}",
        f'{{"refresh_token": "{TOKEN}"}}',
        f"Bearer {TOKEN}",
        f"https://u:{TOKEN}@host/x",
        f"https://host/x?sig={TOKEN}",
    ],
)
def test_scrub_removes_credential_shapes(text: str) -> None:
    assert TOKEN not in scrub(text) and "***" in scrub(text)


def test_scrub_removes_known_secrets_also_url_encoded_and_leaves_prose() -> None:
    secret = "p@ss/word with space"
    assert scrub(f"a {secret} b p%40ss%2Fword%20with%20space c", [secret]) == "a *** b *** c"
    prose = "the API token in the connection's password is wrong; re-authorize the app"
    assert scrub(prose) == prose


# -- the report task's causes ---------------------------------------------------------------------------------
def test_a_quiet_run_raises_no_alert() -> None:
    assert run_alerts(_figures(tokens_today_before=10, tokens_today_after=20, daily_budget=1000)) == []


def test_new_conflicts_are_one_alert_listing_the_keys() -> None:
    keys = [f"CUS-{i:06d}" for i in range(MAX_KEYS + 3)]
    summary = {"organizations": {"conflicts": 14}, "persons": {"conflicts": 1}}
    (alert,) = run_alerts(_figures(summary=summary, new_conflict_keys=[*keys, keys[0]], link="http://a/r7"))
    assert alert.cause == "new_conflicts" and alert.level == "warning"
    assert f"{MAX_KEYS + 3} new conflict(s)" in alert.subject
    assert (
        "CUS-000000, CUS-000001" in alert.body and "and 3 more" in alert.body and keys[-1] not in alert.body
    )
    assert "Conflicts in this run: 15" in alert.body and alert.body.endswith("Run: http://a/r7")


@pytest.mark.parametrize(
    ("summary", "said"),
    [
        ({"budget_exhausted": True, "persons": {"deferred": 4}}, "4 record(s) were deferred"),
        ({"budget_exhausted": True, "deferred_run": True}, "the whole run was deferred"),
    ],
)
def test_a_deferral_is_one_alert(summary: dict[str, Any], said: str) -> None:
    (alert,) = run_alerts(_figures(summary=summary))
    assert alert.cause == "budget_deferred" and said in alert.body


@pytest.mark.parametrize(
    ("before", "after", "budget", "share", "alerts"),
    [
        (7_000, 8_000, 10_000, 0.8, 1),  # this run reached the share
        (7_999, 9_500, 10_000, 0.8, 1),
        (8_000, 9_000, 10_000, 0.8, 0),  # an earlier run of the day crossed it: already told
        (1_000, 7_999, 10_000, 0.8, 0),  # not there yet
        (1_000, 5_000, 10_000, 0.5, 1),  # the configured share counts
        (1_000, 9_000, None, 0.8, 0),  # budget unknown
    ],
)
def test_the_token_share_alerts_once_a_day(
    before: int, after: int, budget: int | None, share: float, alerts: int
) -> None:
    figures = _figures(tokens_today_before=before, tokens_today_after=after, daily_budget=budget)
    found = run_alerts(figures, AlertSettings(token_share=share))
    assert [a.cause for a in found] == ["token_share"] * alerts
    if alerts:
        assert (
            f"{share:.0%} of the daily budget" in found[0].subject and f"{after} of {budget}" in found[0].body
        )


def test_every_cause_at_once_is_one_alert_each() -> None:
    figures = _figures(
        summary={"budget_exhausted": True, "organizations": {"conflicts": 1}},
        new_conflict_keys=["SUP-1"],
        tokens_today_before=0,
        tokens_today_after=900,
        daily_budget=1000,
    )
    assert [a.cause for a in run_alerts(figures)] == ["new_conflicts", "budget_deferred", "token_share"]


# -- delivery -------------------------------------------------------------------------------------------------
def test_log_only_is_one_line_per_alert_at_its_level(caplog: pytest.LogCaptureFixture) -> None:
    alerts = [Alert("task_failed", "s1", "line one\nline two"), Alert("token_share", "s2", "b", "warning")]
    with caplog.at_level(logging.INFO, logger="ml_connector.alerts"):
        assert send_alerts(None, alerts) == []
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name.startswith("ml_connector.alerts")]
    assert lines == [
        (logging.ERROR, "alert task_failed: s1: line one | line two"),
        (logging.WARNING, "alert token_share: s2: b"),
    ]


def test_a_failing_channel_is_reported_and_the_others_still_get_the_alert(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sent: list[str] = []
    monkeypatch.setattr(EmailNotifier, "send", MagicMock(side_effect=AlertDeliveryFailed("mail down")))
    monkeypatch.setattr(WebhookNotifier, "send", lambda self, alert: sent.append(alert.subject))
    settings = AlertSettings.model_validate(
        {"email": {"conn_id": "m", "to": ["a@example.com"]}, "webhook": {"conn_id": "w"}}
    )
    with caplog.at_level(logging.WARNING):
        failures = send_alerts(settings, [Alert("new_conflicts", "a", "b"), Alert("token_share", "c", "d")])
    assert failures == ["new_conflicts: mail down", "token_share: mail down"] and sent == ["a", "c"]
    assert "alert not delivered: new_conflicts: mail down" in caplog.text


@pytest.mark.parametrize(
    ("conn", "url"),
    [
        ({"host": "hooks.example.com", "password": "T1/B2/c3"}, "https://hooks.example.com/T1/B2/c3"),
        (
            {"host": "127.0.0.1", "port": 8099, "schema": "http", "password": "/services/x"},
            "http://127.0.0.1:8099/services/x",
        ),
        ({"host": "https://chat.example.com/hooks/abc/"}, "https://chat.example.com/hooks/abc"),
        (
            {"host": "chat.example.com", "extra": '{"endpoint": "hooks/abc"}'},
            "https://chat.example.com/hooks/abc",
        ),
    ],
)
def test_the_webhook_url_comes_from_the_http_connection(conn: dict[str, Any], url: str) -> None:
    from airflow.sdk import Connection

    assert webhook_url(Connection(conn_id="w", conn_type="http", **conn)) == url


def test_a_missing_webhook_connection_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_HOOK", raising=False)
    with pytest.raises(AlertDeliveryFailed, match="'no_such_hook' is not defined in Airflow"):
        WebhookNotifier("no_such_hook").send(Alert("task_failed", "s", "b"))


def test_a_notifier_called_as_a_failure_callback_sends_the_failure_alert(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    got: list[Alert] = []
    monkeypatch.setattr(WebhookNotifier, "send", lambda self, alert: got.append(alert))
    WebhookNotifier("w")(_context(RunIncomplete("run r1 is incomplete: {{ not a template }}"), "report"))
    (alert,) = got
    assert alert.cause == "run_incomplete" and "{{ not a template }}" in alert.body  # never rendered


# -- settings and wiring --------------------------------------------------------------------------------------
def _shipped_with_alerts_on(entity: str) -> dict[str, Any]:
    """The shipped mapping with its commented ``alerts:`` example uncommented."""
    text = (MAPPINGS / f"{entity}.yaml").read_text(encoding="utf-8")
    block = re.search(r"^# alerts:\n(?:#   .*\n)+", text, re.MULTILINE)
    assert block, "the shipped mapping has a commented alerts example"
    uncommented = "\n".join(line[2:] for line in block.group(0).splitlines())
    data: dict[str, Any] = yaml.safe_load(text.replace(block.group(0), uncommented + "\n"))
    return data


@pytest.mark.parametrize("entity", ["customers", "suppliers"])
def test_the_shipped_alerts_example_is_valid(entity: str) -> None:
    alerts = parse_mapping(_shipped_with_alerts_on(entity)).alerts
    assert alerts is not None and alerts.email is not None and alerts.webhook is not None
    assert (alerts.email.conn_id, alerts.email.to, alerts.webhook.conn_id, alerts.token_share) == (
        "smtp_alerts",
        ["finance-ops@example.com"],
        "slack_alerts",
        0.8,
    )


@pytest.mark.parametrize(
    ("alerts", "problem"),
    [
        (
            {"email": {"conn_id": " ", "to": ["a@example.com"]}},
            "alerts.email.conn_id: name the Airflow connection",
        ),
        (
            {"email": {"conn_id": "m", "to": ["a@example.com", "ops team"]}},
            "alerts.email.to[1]: 'ops team' is not",
        ),
        ({"email": {"conn_id": "m", "to": []}}, "alerts.email.to: list at least one address"),
        ({"webhook": {"conn_id": ""}}, "alerts.webhook.conn_id: name the Airflow connection of the webhook"),
        ({"webhook": {"conn_id": "w", "url": "https://x"}}, "alerts.webhook.url: unknown key"),
        ({"token_share": 0}, "alerts.token_share: 0.0 is not a share"),
        ({"token_share": 1.2}, "give a number above 0 and at most 1"),
    ],
)
def test_bad_alert_settings_name_the_setting_and_the_fix(alerts: dict[str, Any], problem: str) -> None:
    data = yaml.safe_load((MAPPINGS / "customers.yaml").read_text(encoding="utf-8"))
    with pytest.raises(MappingError) as error:
        parse_mapping({**data, "alerts": alerts}, "customers.yaml")
    assert problem in str(error.value)


def test_one_address_may_be_written_without_a_list() -> None:
    settings = AlertSettings.model_validate({"email": {"conn_id": "m", "to": "ops@example.com"}})
    assert settings.email is not None and settings.email.to == ["ops@example.com"]


@pytest.mark.parametrize(
    ("alerts", "channels"),
    [
        (None, [LogNotifier]),
        ({"token_share": 0.5}, [LogNotifier]),
        (
            {"email": {"conn_id": "m", "to": ["a@example.com"]}, "webhook": {"conn_id": "w"}},
            [LogNotifier, EmailNotifier, WebhookNotifier],
        ),
    ],
)
def test_every_task_of_the_dag_gets_the_alert_callbacks(
    tmp_path: Path, alerts: dict[str, Any] | None, channels: list[type]
) -> None:
    from ml_connector.dag.factory import build_sync_dag

    data = yaml.safe_load((MAPPINGS / "customers.yaml").read_text(encoding="utf-8"))
    if alerts is not None:
        data["alerts"] = alerts
    (tmp_path / "customers.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    dag = build_sync_dag(tmp_path / "customers.yaml")
    for task in dag.tasks:
        assert [type(callback) for callback in task.on_failure_callback] == channels


def test_failure_callbacks_follow_the_settings() -> None:
    settings = AlertSettings(webhook=WebhookSettings(conn_id="w"))
    assert [type(n) for n in failure_callbacks(settings)] == [LogNotifier, WebhookNotifier]
