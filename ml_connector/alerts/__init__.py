"""Alerts that reach a person: what causes one (:mod:`.causes`), where it goes (:mod:`.settings`, the
mapping file's ``alerts:`` section) and the Airflow notifiers that deliver it (:mod:`.notifiers`).

The DAG's tasks get ``notifiers.failure_callbacks(mapping.alerts)`` as ``on_failure_callback``; the
``report`` task calls ``send.send_alerts(mapping.alerts, run_alerts(RunFigures(...), mapping.alerts))``.
The mapping imports this package at DAG parse time, so only the Airflow-free parts are imported here;
:mod:`.notifiers` and :mod:`.send` (which need Airflow) are imported from their modules.
"""

from ml_connector.alerts.causes import Alert, RunFigures, failure_alert, run_alerts
from ml_connector.alerts.settings import AlertSettings, EmailSettings, WebhookSettings

__all__ = [
    "Alert",
    "AlertSettings",
    "EmailSettings",
    "RunFigures",
    "WebhookSettings",
    "failure_alert",
    "run_alerts",
]
