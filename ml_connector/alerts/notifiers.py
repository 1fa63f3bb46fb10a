"""Airflow notifiers that deliver an :class:`~ml_connector.alerts.causes.Alert`: a log line, a mail through
the smtp provider, a post to a Slack-compatible webhook.

Each is a ``BaseNotifier``, so a list of them is a task's ``on_failure_callback`` (the alert is built from
the failure's context), and each also has :meth:`AlertNotifier.send` for the alerts the ``report`` task
decides itself. No notifier renders alert text as a Jinja template (an error message may hold braces),
and none lets a connection's password, extras or webhook URL reach an alert, a log line or an exception:
a failed delivery raises :class:`AlertDeliveryFailed` naming only the connection id and the failure's kind.
"""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from airflow.sdk import BaseNotifier

from ml_connector.alerts.causes import Alert, failure_alert
from ml_connector.alerts.settings import AlertSettings, EmailSettings, WebhookSettings
from ml_connector.errors import ConnectorError
from ml_connector.scrub import remove_secrets

if TYPE_CHECKING:
    from airflow.sdk import Connection
    from airflow.sdk.definitions.context import Context

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S = 15.0


class AlertDeliveryFailed(ConnectorError):
    """A channel could not deliver an alert; the message names the connection id, never its secrets."""


class AlertNotifier(BaseNotifier):
    """Base of the alert channels: ``notify`` (a task's failure) and ``send`` (an alert already made)."""

    template_fields = ()  # alert text is never a template

    def notify(self, context: Context) -> None:
        self.send(failure_alert(context))

    def send(self, alert: Alert) -> None:
        raise NotImplementedError


class LogNotifier(AlertNotifier):
    """One ERROR (or WARNING) ``alert:`` line per alert: what log-based alerting picks up, and the record
    of every alert even when a channel fails."""

    def send(self, alert: Alert) -> None:
        level = logging.ERROR if alert.level == "error" else logging.WARNING
        body = " | ".join(line for line in alert.body.splitlines() if line.strip())
        log.log(level, "alert %s: %s: %s", alert.cause, alert.subject, body)


class EmailNotifier(AlertNotifier):
    """Mails an alert with the smtp provider's ``SmtpNotifier`` through the SMTP connection ``conn_id``."""

    def __init__(self, conn_id: str, to: list[str], from_email: str | None = None) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.to = list(to)
        self.from_email = from_email

    def send(self, alert: Alert) -> None:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        failure = None
        try:
            secrets = _secrets_of(_connection(self.conn_id))
            mailer = SmtpNotifier(
                to=self.to,
                from_email=self.from_email,
                subject=remove_secrets(alert.subject, secrets),
                html_content=_html(remove_secrets(alert.body, secrets)),
                smtp_conn_id=self.conn_id,
            )
            mailer.notify({})  # not mailer(context): that would render the text as Jinja templates
        except Exception as exc:
            failure = _failure("mail", self.conn_id, exc)
        if failure is not None:  # raised outside the handler: the library's error is not even its context
            raise AlertDeliveryFailed(failure)


class WebhookNotifier(AlertNotifier):
    """Posts ``{"text": ...}`` to the Slack-compatible incoming webhook of HTTP connection ``conn_id``."""

    def __init__(self, conn_id: str) -> None:
        super().__init__()
        self.conn_id = conn_id

    def send(self, alert: Alert) -> None:
        import requests

        failure = None
        try:
            conn = _connection(self.conn_id)
            url = webhook_url(conn)
            _hide(url, conn.password)
            secrets = [*_secrets_of(conn), url]
            text = f"*{remove_secrets(alert.subject, secrets)}*\n{remove_secrets(alert.body, secrets)}"
            response = requests.post(url, json={"text": text}, timeout=WEBHOOK_TIMEOUT_S)
            if response.status_code >= 300:
                failure = (
                    f"alert webhook connection '{self.conn_id}' answered HTTP {response.status_code}; check "
                    "the connection's webhook URL (host, port, path) and that the webhook is still active"
                )
        except Exception as exc:
            failure = _failure("webhook", self.conn_id, exc)
        if failure is not None:  # raised outside the handler: the library's error is not even its context
            raise AlertDeliveryFailed(failure)


def webhook_url(conn: Connection) -> str:
    """The webhook's URL from an HTTP connection, as the http provider builds a base URL (``host`` may be a
    whole URL; else ``schema`` is the scheme, https by default, and ``port`` is added), followed by the
    secret path: the ``password`` (the Slack provider's convention, masked by Airflow) or the extra
    ``endpoint``."""
    host = (conn.host or "").strip()
    if not host:
        raise ValueError("the connection has no host")
    if "://" in host:
        base = host.rstrip("/")
    else:
        scheme = conn.schema if conn.schema in ("http", "https") else "https"
        base = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
    path = conn.password or str(conn.extra_dejson.get("endpoint") or "")
    return f"{base}/{path.lstrip('/')}" if path else base


class _HideSecrets(logging.Filter):
    """On urllib3's connection-pool logger, whose DEBUG line names each request's path: the webhook's."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            record.msg, record.args = remove_secrets(message, self.secrets), None
        return True


_URLLIB3_FILTER = _HideSecrets()
logging.getLogger("urllib3.connectionpool").addFilter(_URLLIB3_FILTER)


def _hide(url: str, path: str | None) -> None:
    """Keep the webhook's URL and secret path out of every log: urllib3's and, in a task, Airflow's."""
    secrets = {s for s in (url, path, urlsplit(url).path) if s and len(s) >= 4}
    _URLLIB3_FILTER.secrets |= secrets
    try:
        from airflow.sdk.log import mask_secret

        for secret in secrets:
            mask_secret(secret)
    except Exception:  # masking is defence in depth; never fail a delivery over it
        log.debug("could not register the webhook secret with Airflow's masker")


def channel_notifiers(settings: AlertSettings | None) -> list[AlertNotifier]:
    """The channels ``settings`` configure (none: an empty list)."""
    if settings is None:
        return []
    channels: list[AlertNotifier] = []
    if isinstance(settings.email, EmailSettings):
        channels.append(EmailNotifier(settings.email.conn_id, settings.email.to, settings.email.from_email))
    if isinstance(settings.webhook, WebhookSettings):
        channels.append(WebhookNotifier(settings.webhook.conn_id))
    return channels


def failure_callbacks(settings: AlertSettings | None) -> list[AlertNotifier]:
    """A task's ``on_failure_callback``: the log line, then every configured channel."""
    return [LogNotifier(), *channel_notifiers(settings)]


def _connection(conn_id: str) -> Connection:
    from airflow.sdk import BaseHook

    conn: Connection = BaseHook.get_connection(conn_id)
    return conn


def _secrets_of(conn: Connection) -> list[str]:
    """What of a connection must not reach an alert: its password and the string values of its extras."""
    extras = [v for v in conn.extra_dejson.values() if isinstance(v, str) and len(v) >= 8]
    return [s for s in (conn.password, *extras) if s]


def _failure(channel: str, conn_id: str, exc: BaseException) -> str:
    """A delivery failure's kind, never its text: a library's message can hold the URL or the server's
    echo of what was sent."""
    if "NotFound" in type(exc).__name__:
        return (
            f"alert {channel} connection '{conn_id}' is not defined in Airflow; add it (Admin > Connections, "
            f"or the environment variable AIRFLOW_CONN_{conn_id.upper()})"
        )
    return (
        f"alert {channel} connection '{conn_id}' failed to deliver ({type(exc).__name__}); check the "
        "connection in Airflow (Admin > Connections) and that its server is reachable"
    )


def _html(body: str) -> str:
    return f'<pre style="white-space: pre-wrap; font-family: sans-serif">{html.escape(body)}</pre>'
