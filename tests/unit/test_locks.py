"""The file lock that keeps Pipedrive writers apart: across processes, bounded waits that name the
holder, and no stale lock after the holder is killed."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from ml_connector.locks import LockTimeout, file_lock, read_holder


def _hold(path: str, seconds: float, ready: Any) -> None:
    with file_lock(Path(path), what="load of run manual__1 of workday_customers_to_pipedrive"):
        ready.set()
        time.sleep(seconds)


def _holder(tmp_path: Path, seconds: float) -> multiprocessing.Process:
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    process = ctx.Process(target=_hold, args=(str(tmp_path / "pipedrive.lock"), seconds, ready))
    process.start()
    assert ready.wait(30)
    return process


def test_a_second_writer_waits_for_the_first_and_says_for_whom(tmp_path: Path) -> None:
    holder = _holder(tmp_path, 1.5)
    waits: list[tuple[dict[str, Any], float]] = []
    started = time.monotonic()
    with file_lock(
        tmp_path / "pipedrive.lock", timeout=30, on_wait=lambda h, w: waits.append((h, w)), poll=0.1
    ):
        waited = time.monotonic() - started
        assert read_holder(tmp_path / "pipedrive.lock") == {}  # nothing written without ``what``
    holder.join(10)
    assert waited >= 1.0
    assert waits and waits[0][0]["what"] == "load of run manual__1 of workday_customers_to_pipedrive"
    assert waits[0][0]["pid"] == holder.pid


def test_a_bounded_wait_fails_naming_the_holder(tmp_path: Path) -> None:
    holder = _holder(tmp_path, 5)
    try:
        with (
            pytest.raises(LockTimeout, match=r"load of run manual__1 .* \(pid \d+ on "),
            file_lock(tmp_path / "pipedrive.lock", timeout=0.5, poll=0.1),
        ):
            pass
    finally:
        holder.terminate()
        holder.join(10)


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    holder = _holder(tmp_path, 60)
    assert holder.pid is not None
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(10)
    with file_lock(tmp_path / "pipedrive.lock", timeout=5, poll=0.1):
        pass  # acquired at once: the kernel released the dead holder's lock
