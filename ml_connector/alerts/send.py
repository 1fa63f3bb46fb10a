"""Sending the ``report`` task's alerts: each once to the log and once to every configured channel."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ml_connector.alerts.causes import Alert
from ml_connector.alerts.notifiers import AlertDeliveryFailed, LogNotifier, channel_notifiers
from ml_connector.alerts.settings import AlertSettings

log = logging.getLogger(__name__)


def send_alerts(settings: AlertSettings | None, alerts: Iterable[Alert]) -> list[str]:
    """Log each alert, then deliver it to each channel of ``settings``; returns the delivery failures
    (also logged as warnings). A failed delivery never fails the caller: the run's outcome is the run's,
    and the log line is there either way."""
    alerts = list(alerts)
    if not alerts:
        return []
    channels = channel_notifiers(settings)
    failures: list[str] = []
    for alert in alerts:
        LogNotifier().send(alert)
        for channel in channels:
            try:
                channel.send(alert)
            except AlertDeliveryFailed as exc:
                failures.append(f"{alert.cause}: {exc}")
            except Exception as exc:  # a channel's bug must not hide the other channels' alerts
                failures.append(f"{alert.cause}: {type(channel).__name__} failed ({type(exc).__name__})")
    for failure in failures:
        log.warning("alert not delivered: %s", failure)
    return failures
