"""At most one writer per Pipedrive connection at a time, whoever started it.

The tasks that may write to one Pipedrive company (``validate_field_definitions`` and ``load``, of either
DAG, from the scheduler, a backfill or the CLI) hold this lock while they write, with or without Airflow
pools. It is a :func:`ml_connector.staging.locks.file_lock` under the state directory, which must be shared
storage with working ``flock`` when workers run on several machines; the kernel releases the lock of a
killed worker. A second writer waits (logging whom it waits for), up to :data:`WRITE_LOCK_WAIT`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from ml_connector.credentials.vault import default_state_dir, entry_stem
from ml_connector.errors import ConnectorError, Remedy
from ml_connector.staging.locks import LockTimeout, describe_holder, file_lock

log = logging.getLogger(__name__)

WRITE_LOCK_WAIT = timedelta(hours=1)


class PipedriveBusy(ConnectorError, RuntimeError):
    """Another task kept the Pipedrive write lock for longer than a load waits; Airflow retries later."""

    remedy = Remedy.RETRY


@contextmanager
def pipedrive_write_lock(conn_id: str, holder: str) -> Iterator[None]:
    """Hold the write lock of Pipedrive connection ``conn_id``; ``holder`` says who, for those waiting."""
    path = default_state_dir() / "locks" / f"pipedrive-{entry_stem(conn_id)}.lock"

    def waiting(current: dict[str, Any], waited: float) -> None:
        log.info(
            "waiting for the Pipedrive write lock of connection %s, held by %s (%.0f s so far)",
            conn_id,
            describe_holder(current),
            waited,
        )

    try:
        with file_lock(path, what=holder, timeout=WRITE_LOCK_WAIT.total_seconds(), on_wait=waiting):
            yield
    except LockTimeout as exc:
        raise PipedriveBusy(
            f"the Pipedrive write lock of connection {conn_id} is still held after {WRITE_LOCK_WAIT} by "
            f"{describe_holder(exc.holder)}; this task is retried later. If that process is gone for "
            "good, its lock went with it: clear this task to run it again."
        ) from None
