"""Another process holding a file lock or a write lease, as a second worker, DAG or CLI run would.

The targets live here, not in a test module, so a spawned child imports nothing but this module.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from ml_connector.staging.locks import file_lock


def _hold_lock(path: str, what: str, ready: Any, release: Any, seconds: float) -> None:
    with file_lock(Path(path), what=what):
        ready.set()
        release.wait(seconds)


def _hold_lease(
    root: str, name: str, what: str, ttl_s: float, ready: Any, release: Any, seconds: float
) -> None:
    from ml_connector.load.lease import lease
    from ml_connector.staging.area import StagingArea

    with lease(StagingArea(root), name, what, ttl=timedelta(seconds=ttl_s)):
        ready.set()
        release.wait(seconds)


class _HeldInChild:
    """Runs ``target(*args, ready, release, seconds)`` in a spawned process until :meth:`release`."""

    def __init__(self, target: Callable[..., None], args: tuple[Any, ...], seconds: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._ready, self._release = ctx.Event(), ctx.Event()
        self.process = ctx.Process(target=target, args=(*args, self._ready, self._release, seconds))
        self.process.start()
        if not self._ready.wait(60):
            self.process.kill()
            raise RuntimeError(f"the holder {args} did not take hold within 60 s")

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def release(self) -> None:
        self._release.set()
        self.process.join(30)


class LockHolder(_HeldInChild):
    """Holds the file lock ``path`` in a spawned process until :meth:`release` (or ``seconds`` pass)."""

    def __init__(self, path: Path, what: str, seconds: float = 120) -> None:
        super().__init__(_hold_lock, (str(path), what), seconds)


class LeaseHolder(_HeldInChild):
    """Holds lease ``name`` of the staging root ``root`` in a spawned process, renewing it."""

    def __init__(self, root: str, name: str, what: str, *, ttl_s: float = 120, seconds: float = 120) -> None:
        super().__init__(_hold_lease, (root, name, what, ttl_s), seconds)
