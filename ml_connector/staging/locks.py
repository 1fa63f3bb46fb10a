"""Exclusive file locks across the threads of a process and across processes sharing a folder.

A thread lock plus ``fcntl.flock`` on a lock file: the kernel releases a flock when its holder dies,
even by SIGKILL, so a killed worker never leaves a stale lock behind. Processes on several machines
share the guarantee only when the folder is on storage with working ``flock`` (a local disk, NFSv4).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ml_connector.errors import ConnectorError, Remedy

# One thread lock per lock file for the whole process: flock alone would not keep a second thread of
# this process out (each opens its own descriptor), and several objects may point at the same file.
_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


class LockTimeout(ConnectorError, TimeoutError):
    """The lock stayed held for longer than the caller was willing to wait; ``holder`` says by whom."""

    remedy = Remedy.RETRY

    def __init__(self, path: Path, waited: float, holder: dict[str, Any]) -> None:
        self.path = path
        self.holder = holder
        super().__init__(f"{path.name} still held after {waited:.0f} s by {describe_holder(holder)}")


def describe_holder(holder: dict[str, Any]) -> str:
    """``run <run_id> of <dag_id> (pid 123 on worker-1)``, from what the holder wrote into the file."""
    if not holder:
        return "an unknown process"
    what = holder.get("what") or "a process"
    return f"{what} (pid {holder.get('pid', '?')} on {holder.get('host', '?')})"


def read_holder(path: Path) -> dict[str, Any]:
    """What the current holder wrote into the lock file (empty when unknown or unreadable)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


@contextlib.contextmanager
def file_lock(
    path: Path,
    *,
    what: str = "",
    timeout: float | None = None,
    on_wait: Callable[[dict[str, Any], float], None] | None = None,
    poll: float = 1.0,
) -> Iterator[None]:
    """Hold ``path`` exclusively; not re-entrant.

    ``timeout=None`` blocks until the lock is free. Otherwise the lock is polled, ``on_wait(holder,
    waited_seconds)`` is called about every 60 s (and once at the start of the wait), and
    :class:`LockTimeout` names the holder when ``timeout`` runs out. ``what`` is written into the file
    while held, so a waiting process can say who it waits for.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _thread_lock(path):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _acquire(fd, path, timeout, on_wait, poll)
            try:
                if what:
                    _write_holder(fd, what)
                yield
            finally:
                if what:
                    os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _thread_lock(path: Path) -> Iterator[None]:
    key = str(path.resolve())
    with _thread_locks_guard:
        lock = _thread_locks.setdefault(key, threading.Lock())
    with lock:
        yield


def _acquire(
    fd: int,
    path: Path,
    timeout: float | None,
    on_wait: Callable[[dict[str, Any], float], None] | None,
    poll: float,
) -> None:
    if timeout is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    started = time.monotonic()
    next_notice = started
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        now = time.monotonic()
        if now - started >= timeout:
            raise LockTimeout(path, now - started, read_holder(path))
        if on_wait is not None and now >= next_notice:
            on_wait(read_holder(path), now - started)
            next_notice = now + 60
        time.sleep(min(poll, max(0.0, timeout - (now - started))))


def _write_holder(fd: int, what: str) -> None:
    data = json.dumps({"what": what, "pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})
    os.ftruncate(fd, 0)
    os.pwrite(fd, data.encode(), 0)
