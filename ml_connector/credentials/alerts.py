"""What happens when an identity provider rejects a credential: a person has to act, so tell one.

For now the alert is one ERROR log line that Airflow's task log and any log-based alerting pick up;
channels (mail, chat) plug in later as other ``on_rejected`` callbacks.
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
