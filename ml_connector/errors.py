"""What each product error means for whoever catches it, decided once, by its class.

Every error ml-connector raises derives from :class:`ConnectorError` and says two things:

- ``remedy``: ``RETRY`` (another try later may succeed: the task is retried with backoff), ``PERSON``
  (a setting, credential, mapping or record must be fixed first: the task fails at once, without
  retries, and the message says what to do), or ``DEFER`` (Pipedrive's daily budget is at its reserve:
  the rest of the work waits for the next run, which is not a failure);
- ``stops_run``: after one, every further call of the run would fail the same way or make things worse
  (a rejected credential, Pipedrive's edge block, the budget), so the writes stop at once.

The DAG's retry policy, the write executor and the hooks all read these attributes; nothing else lists
error classes by name.
"""

from __future__ import annotations

from enum import Enum
from typing import ClassVar, TypeGuard


class Remedy(Enum):
    RETRY = "retry"
    PERSON = "person"
    DEFER = "defer"


class ConnectorError(Exception):
    """Base of every error the product raises."""

    remedy: ClassVar[Remedy] = Remedy.RETRY
    stops_run: ClassVar[bool] = False


def remedy_of(exc: BaseException) -> Remedy:
    """The remedy of ``exc``; an error that is not the product's own is worth a retry (Airflow's default)."""
    return exc.remedy if isinstance(exc, ConnectorError) else Remedy.RETRY


def stops_run(exc: BaseException) -> TypeGuard[ConnectorError]:
    return isinstance(exc, ConnectorError) and exc.stops_run
