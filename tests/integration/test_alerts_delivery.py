"""Alerts delivered for real: a local SMTP server (aiosmtpd, with login) and a local Slack-compatible
webhook (http.server), both reached through Airflow connections given as ``AIRFLOW_CONN_*`` variables.

Each test checks what arrived (subject, connection name, fix text), that each cause arrived exactly once
per channel, and that no secret did: the SMTP password, the webhook URL's secret path, an API token
planted in the error.
"""

from __future__ import annotations

import email
import html
import json
import logging
import re
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography.fernet import Fernet

from ml_connector.alerts import RunFigures, run_alerts
from ml_connector.alerts.notifiers import (
    AlertDeliveryFailed,
    EmailNotifier,
    WebhookNotifier,
    failure_callbacks,
)
from ml_connector.alerts.send import send_alerts
from ml_connector.alerts.settings import AlertSettings, EmailSettings, WebhookSettings
from ml_connector.audit import RunIncomplete
from ml_connector.http.errors import CredentialRejected
from ml_connector.sandbox.config import pipedrive_connection_uri
from ml_connector.sandbox.runtime import RunningSandbox

ROOT = Path(__file__).resolve().parents[2]
SMTP_USER = "alerts-user"
SMTP_PASSWORD = "smtp-Pa55word-never-in-mail"
WEBHOOK_SECRET = "T0ALERTS/B0ALERTS/xoxb-webhook-secret-path-4242"
PLANTED_TOKEN = "planted-api-token-0123456789abcdef"
FIX_TEXT = "copy the current one from Pipedrive (Personal preferences > API) into the connection"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the SMTP server ------------------------------------------------------------------------------------------
class _Inbox:
    """aiosmtpd handler and authenticator: keeps each accepted mail; accepts one login only."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.original_content or envelope.content))
        return "250 OK"

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        )
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)

    def texts(self) -> list[tuple[str, str]]:
        """``(subject, body)`` of each mail; the body is the HTML part as text, and the raw mail too."""
        out = []
        for message in self.messages:
            parts = [p for p in message.walk() if p.get_content_type() == "text/html"]
            body = "".join(str(p.get_payload(decode=True), "utf-8") for p in parts)  # type: ignore[arg-type]
            out.append((str(message["Subject"]), html.unescape(re.sub(r"<[^>]+>", "", body))))
        return out

    def raw(self) -> str:
        return "\n".join(m.as_string() for m in self.messages)


@pytest.fixture()
def inbox() -> Iterator[_Inbox]:
    handler = _Inbox()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=_free_port(),
        authenticator=handler,
        auth_require_tls=False,
        auth_exclude_mechanism=["CRAM-MD5"],
    )
    controller.start()
    handler.port = controller.port  # type: ignore[attr-defined]
    try:
        yield handler
    finally:
        controller.stop()


# -- the webhook ----------------------------------------------------------------------------------------------
@dataclass
class _Hook:
    port: int
    posts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    status: int = 200

    def texts(self) -> list[str]:
        return [str(body.get("text")) for _, body in self.posts]


@pytest.fixture()
def webhook() -> Iterator[_Hook]:
    state = _Hook(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.posts.append((self.path, json.loads(body)))
            self.send_response(state.status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def channels(inbox: _Inbox, webhook: _Hook, monkeypatch: pytest.MonkeyPatch) -> AlertSettings:
    """Both connections (JSON form, as AIRFLOW_CONN_* variables) and the alert settings naming them."""
    smtp = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": inbox.port,  # type: ignore[attr-defined]
        "login": SMTP_USER,
        "password": SMTP_PASSWORD,
        "extra": {
            "from_email": "ml-connector@example.com",
            "disable_tls": True,
            "disable_ssl": True,
            "timeout": 10,
            "retry_limit": 0,
        },
    }
    hook = {
        "conn_type": "http",
        "host": "127.0.0.1",
        "port": webhook.port,
        "schema": "http",
        "password": WEBHOOK_SECRET,
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_ALERTS", json.dumps(smtp))
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", json.dumps(hook))
    return AlertSettings(
        email=EmailSettings(conn_id="smtp_alerts", to=["finance-ops@example.com"]),
        webhook=WebhookSettings(conn_id="slack_alerts"),
        token_share=0.8,
    )


SECRETS = (SMTP_PASSWORD, WEBHOOK_SECRET, "xoxb-webhook-secret-path-4242", PLANTED_TOKEN)


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def _failure_context(error: BaseException, task_id: str = "refresh_tokens") -> dict[str, Any]:
    """What Airflow passes a task's on_failure_callback: the task instance and the exception, plus the
    rest of a real context (params, the connection accessor) that an alert must not copy."""
    ti = SimpleNamespace(
        dag_id="workday_customers_to_pipedrive",
        task_id=task_id,
        run_id="manual__2026-03-01T10:00:00+00:00",
        try_number=1,
        log_url="http://airflow.example.com/dags/workday_customers_to_pipedrive/runs/r1/tasks/x?try_number=1",
    )
    return {
        "ti": ti,
        "task_instance": ti,
        "run_id": ti.run_id,
        "exception": error,
        "params": {"api_token": PLANTED_TOKEN},
        "conn": SimpleNamespace(pipedrive_default=SimpleNamespace(password=PLANTED_TOKEN)),
    }


def _rejected() -> CredentialRejected:
    """A rejected API token whose message also carries the token in a URL, as a careless library would."""
    return CredentialRejected(
        "Pipedrive",
        f"Pipedrive refused connection 'pipedrive_default' (unauthorized): the API token in the connection's "
        f"password is wrong or was regenerated; {FIX_TEXT}",
        status=401,
        detail=f"GET https://sandbox.pipedrive.com/api/v2/users/me?api_token={PLANTED_TOKEN}",
    )


# -- tests ----------------------------------------------------------------------------------------------------
def test_a_rejected_credential_reaches_mail_and_webhook_once_with_the_fix_and_no_secret(
    channels: AlertSettings, inbox: _Inbox, webhook: _Hook
) -> None:
    for callback in failure_callbacks(channels):
        callback(_failure_context(_rejected()))  # as Airflow calls each on_failure_callback

    assert inbox.logins == [SMTP_USER]  # it logged in with the connection's password...
    ((subject, body),) = inbox.texts()
    assert "credential rejected" in subject and "'pipedrive_default'" in subject
    assert FIX_TEXT in body and "Issue a new credential" in body
    assert "runs/r1/tasks/x?try_number=1" in body  # the link to the task
    ((path, _),) = webhook.posts
    assert path == f"/{WEBHOOK_SECRET}"  # ...and posted to the secret path...
    (text,) = webhook.texts()
    assert "credential rejected" in text and FIX_TEXT in text
    _assert_no_secret(inbox.raw(), *webhook.texts())  # ...and neither reached an alert


def test_an_incomplete_run_and_any_other_failure_have_their_own_subjects(
    channels: AlertSettings, inbox: _Inbox, webhook: _Hook
) -> None:
    incomplete = RunIncomplete("run r1 of workday_customers_to_pipedrive is incomplete: 3 record(s) failed")
    other = RuntimeError(f"boom while calling https://x.example.com/a?api_token={PLANTED_TOKEN}")
    for error, task in ((incomplete, "report"), (other, "extract")):
        for callback in failure_callbacks(channels):
            callback(_failure_context(error, task))

    subjects = [subject for subject, _ in inbox.texts()]
    assert len(subjects) == 2 and "run incomplete" in subjects[0] and "task extract failed" in subjects[1]
    assert "3 record(s) failed" in inbox.texts()[0][1] and "carried over" in inbox.texts()[0][1]
    assert len(webhook.posts) == 2 and "run incomplete" in webhook.texts()[0]
    _assert_no_secret(inbox.raw(), *webhook.texts())


def test_the_report_tasks_causes_arrive_once_each_on_both_channels(
    channels: AlertSettings, inbox: _Inbox, webhook: _Hook, caplog: pytest.LogCaptureFixture
) -> None:
    figures = RunFigures(
        dag_id="workday_customers_to_pipedrive",
        run_id="r2",
        entity="customers",
        summary={
            "organizations": {"conflicts": 2, "deferred": 5},
            "persons": {"conflicts": 0, "deferred": 7},
            "budget_exhausted": True,
            "deferred_run": False,
        },
        new_conflict_keys=["CUS-000007", "CUS-000009"],
        tokens_today_before=7_000,
        tokens_today_after=8_500,
        daily_budget=10_000,
        link="http://airflow.example.com/dags/workday_customers_to_pipedrive/runs/r2",
    )
    with caplog.at_level(logging.WARNING, logger="ml_connector.alerts"):
        failures = send_alerts(channels, run_alerts(figures, channels))

    assert failures == []
    expected = ["new conflict", "budget reserve reached", "passed 80% of the daily budget"]
    subjects = [subject for subject, _ in inbox.texts()]
    assert len(subjects) == 3 and all(want in got for want, got in zip(expected, subjects, strict=True))
    assert (
        "CUS-000007, CUS-000009" in inbox.texts()[0][1]
        and "12 record(s) were deferred" in inbox.texts()[1][1]
    )
    assert "8500 of 10000" in inbox.texts()[2][1]
    assert len(webhook.texts()) == 3 and all(w in t for w, t in zip(expected, webhook.texts(), strict=True))
    alert_lines = [r for r in caplog.records if r.getMessage().startswith("alert ")]
    assert len(alert_lines) == 3  # one log line per alert, besides the channels
    _assert_no_secret(inbox.raw(), *webhook.texts(), caplog.text)


def test_failed_deliveries_name_the_connection_and_keep_its_secrets(
    channels: AlertSettings, webhook: _Hook, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = json.loads(str(__import__("os").environ["AIRFLOW_CONN_SMTP_ALERTS"]))
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_ALERTS", json.dumps({**wrong, "password": "wrong-" + SMTP_PASSWORD})
    )
    webhook.status = 404  # a deleted webhook
    alert = run_alerts(
        RunFigures("d", "r", "customers", {"budget_exhausted": True, "deferred_run": True}), channels
    )
    with caplog.at_level(logging.DEBUG):
        failures = send_alerts(channels, alert)
        with pytest.raises(AlertDeliveryFailed) as mail_error:
            EmailNotifier("smtp_alerts", ["a@example.com"]).send(alert[0])
        with pytest.raises(AlertDeliveryFailed) as hook_error:
            WebhookNotifier("slack_alerts").send(alert[0])
    assert len(failures) == 2 and "'smtp_alerts'" in failures[0] and "'slack_alerts'" in failures[1]
    assert "HTTP 404" in str(hook_error.value) and "'smtp_alerts'" in str(mail_error.value)
    _assert_no_secret(caplog.text, *failures, str(mail_error.value), str(hook_error.value))

    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_ALERTS",
        json.dumps(
            {
                "conn_type": "http",
                "host": "127.0.0.1",
                "port": _free_port(),
                "schema": "http",
                "password": WEBHOOK_SECRET,
            }
        ),
    )
    with pytest.raises(AlertDeliveryFailed) as refused:  # nothing listens: requests' message holds the URL
        WebhookNotifier("slack_alerts").send(alert[0])
    _assert_no_secret(str(refused.value), repr(refused.value.__cause__), repr(refused.value.__context__))


# -- the callback in a DAG run --------------------------------------------------------------------------------
@pytest.fixture()
def alerting_mapping(tmp_path: Path) -> Path:
    """The shipped customers mapping with its alerts section switched on."""
    folder = tmp_path / "mappings"
    folder.mkdir()
    text = (ROOT / "include" / "mappings" / "customers.yaml").read_text(encoding="utf-8")
    text += "\nalerts:\n  email: {conn_id: smtp_alerts, to: [finance-ops@example.com]}\n  webhook: {conn_id: slack_alerts}\n"
    (folder / "customers.yaml").write_text(text, encoding="utf-8")
    return folder / "customers.yaml"


def test_a_dag_run_with_a_wrong_api_token_alerts_both_channels(
    airflow_db: str,
    make_sandbox: Callable[..., RunningSandbox],
    channels: AlertSettings,
    alerting_mapping: Path,
    inbox: _Inbox,
    webhook: _Hook,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sandbox = make_sandbox(customers=5, suppliers=2)
    wrong = sandbox.config.pipedrive.model_copy(update={"api_token": PLANTED_TOKEN})
    config = sandbox.config
    monkeypatch.setenv("AIRFLOW_CONN_WORKDAY_DEFAULT", sandbox.workday_conn_uri)
    monkeypatch.setenv(
        "AIRFLOW_CONN_PIPEDRIVE_DEFAULT",
        pipedrive_connection_uri(sandbox.pipedrive_url, wrong, config.pipedrive_plan, config.pipedrive_seats),
    )
    monkeypatch.setenv("ML_CONNECTOR_FERNET_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("ML_CONNECTOR_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ML_CONNECTOR_STAGING_ROOT", f"file://{tmp_path / 'staging'}")
    from ml_connector.dag.factory import build_sync_dag

    run = build_sync_dag(alerting_mapping, task_retries=0).test()

    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in run.get_task_instances()}
    assert states["refresh_tokens"] == "failed"
    ((subject, body),) = inbox.texts()  # one alert: the tasks after it never ran
    assert "credential rejected on connection 'pipedrive_default'" in subject
    assert FIX_TEXT in body
    (text,) = webhook.texts()
    assert "credential rejected on connection 'pipedrive_default'" in text and FIX_TEXT in text
    real_token = sandbox.config.pipedrive.api_token
    _assert_no_secret(inbox.raw(), *webhook.texts())
    assert real_token not in inbox.raw() + "".join(webhook.texts())
    shutil.rmtree(tmp_path / "staging", ignore_errors=True)


def _report_context(tmp_path: Path, settings: AlertSettings, run_id: str) -> Any:

    from ml_connector.dag.context import RunContext
    from ml_connector.mapping import load_mapping
    from ml_connector.staging.area import StagingArea

    mapping = load_mapping(Path(__file__).resolve().parents[2] / "include" / "mappings" / "customers.yaml")
    return RunContext(
        dag_id="workday_customers_to_pipedrive",
        run_id=run_id,
        mapping=mapping.model_copy(update={"alerts": settings}),
        area=StagingArea(f"file://{tmp_path / 'staging'}"),
        mode="incremental",
        task_id="report",
    )


def test_the_report_alerts_once_per_run_and_cause_and_the_token_share_once_a_day(
    channels: AlertSettings, webhook: _Hook, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from ml_connector.audit import ledger
    from ml_connector.dag import tasks

    settings = channels.model_copy(update={"email": None, "token_share": 0.5})
    first = _report_context(tmp_path, settings, "r1")
    spent = {"ts": datetime.now(UTC), "run_id": "r1", "kind": "task", "key": "load", "action": "success"}
    ledger.write_part(
        first.area, entity="customers", run_id="r1", task_id="load", rows=[{**spent, "tokens": 900}]
    )
    deferred = {
        "organizations": {"deferred": 3},
        "persons": {},
        "budget_exhausted": True,
        "deferred_run": True,
    }
    plan = [{"key": "CUS-000007", "action": "conflict"}]
    run_row = {"tokens": 900, "daily_budget": 1000}

    tasks.alert_run(first, deferred, plan, run_row)
    sent = list(webhook.texts())
    assert len(sent) == 3
    assert ["new conflict" in sent[0], "budget reserve" in sent[1], "passed 50%" in sent[2]] == [True] * 3
    tasks.alert_run(first, deferred, plan, run_row)  # the report retried: nothing again
    assert webhook.texts() == sent

    # the next run of the day: the same conflict is not new, the day's share was told already
    second = _report_context(tmp_path, settings, "r2")
    quiet = {"organizations": {}, "persons": {}, "budget_exhausted": False, "deferred_run": False}
    tasks.alert_run(second, quiet, plan, {"tokens": 50, "daily_budget": 1000})
    assert webhook.texts() == sent
