"""Another process holding a file lock, as a second worker, DAG or CLI run would.

The target lives here, not in a test module, so a spawned child imports nothing but this module.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

from ml_connector.staging.locks import file_lock


def _hold(path: str, what: str, ready: Any, release: Any, seconds: float) -> None:
    with file_lock(Path(path), what=what):
        ready.set()
        release.wait(seconds)


class LockHolder:
    """Holds ``path`` in a spawned process until :meth:`release` (or ``seconds`` pass)."""

    def __init__(self, path: Path, what: str, seconds: float = 120) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._ready, self._release = ctx.Event(), ctx.Event()
        self.process = ctx.Process(target=_hold, args=(str(path), what, self._ready, self._release, seconds))
        self.process.start()
        if not self._ready.wait(60):
            self.process.kill()
            raise RuntimeError(f"the lock holder did not take {path} within 60 s")

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def release(self) -> None:
        self._release.set()
        self.process.join(30)
