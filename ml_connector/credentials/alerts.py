"""What happens when an identity provider rejects a credential: a person has to act, so tell one.

Here the alert is one ERROR log line, written the moment the credential is refused, that Airflow's
task log and any log-based alerting pick up. Mail and chat come from the DAG's ``on_failure_callback``
(:mod:`ml_connector.alerts`): the rejection fails the task, and that alert says "credential rejected".
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ml_connector.http.errors import CredentialRejected

log = logging.getLogger(__name__)

CredentialAlert = Callable[[CredentialRejected], None]


def log_credential_alert(error: CredentialRejected) -> None:
    """One ``credential alert: ...`` ERROR line; the error's message names system, connection and the fix."""
    log.error("credential alert: %s", error.api_message)
