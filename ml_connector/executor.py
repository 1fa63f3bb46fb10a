"""The write executor's worker pool: writes run on a few threads, each keeps its own outcome, and the
first error that stops the run (:func:`ml_connector.errors.stops_run`) stops every write not yet sent.

Pacing under Pipedrive's limits is the hook's (its calls wait for the burst window); how many writes are
in flight at once is decided here, by the caller's ``max_workers``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from ml_connector.errors import stops_run

T = TypeVar("T")
R = TypeVar("R")


def run_concurrently(
    fn: Callable[[T], R], items: Iterable[T], *, max_workers: int = 4
) -> list[tuple[T, R | Exception]]:
    """Run ``fn`` over ``items`` on ``max_workers`` threads; results in input order.

    A failed item keeps its exception and the others go on. After an edge block, a refused credential
    or an exhausted budget nothing more is sent: every item not yet started gets that error, so the
    caller can tell what was deferred.
    """
    work = list(items)
    stop: list[Exception] = []
    stop_lock = threading.Lock()

    def run(item: T) -> R | Exception:
        with stop_lock:
            if stop:
                return stop[0]
        try:
            return fn(item)
        except Exception as exc:
            if stops_run(exc):
                with stop_lock:
                    stop.append(exc)
            return exc

    with ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="pipedrive") as pool:
        results = list(pool.map(run, work))
    return list(zip(work, results, strict=True))
