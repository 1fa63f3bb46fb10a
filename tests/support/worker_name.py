"""The host name Airflow records for a task (``[core] hostname_callable``) in the cluster test.

Two Celery workers on one machine would both report the machine's name; each worker process of the
test is started with its own ``ML_CONNECTOR_TEST_WORKER``, as two hosts would differ by name.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("ML_CONNECTOR_TEST_WORKER") or socket.getfqdn()
