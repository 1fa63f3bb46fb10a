"""The file lock that keeps Pipedrive writers apart: across processes, bounded waits that name the
holder, and no stale lock after the holder is killed."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from support.locking import LockHolder

from ml_connector.staging.locks import LockTimeout, file_lock, read_holder

WHAT = "load of run manual__1 of workday_customers_to_pipedrive"


def test_a_second_writer_waits_for_the_first_and_says_for_whom(tmp_path: Path) -> None:
    holder = LockHolder(tmp_path / "pipedrive.lock", WHAT, seconds=1.5)
    waits: list[tuple[dict[str, Any], float]] = []
    started = time.monotonic()
    with file_lock(
        tmp_path / "pipedrive.lock", timeout=30, on_wait=lambda h, w: waits.append((h, w)), poll=0.1
    ):
        waited = time.monotonic() - started
        assert read_holder(tmp_path / "pipedrive.lock") == {}  # nothing written without ``what``
    holder.process.join(10)
    assert waited >= 1.0
    assert waits and waits[0][0]["what"] == "load of run manual__1 of workday_customers_to_pipedrive"
    assert waits[0][0]["pid"] == holder.pid


def test_a_bounded_wait_fails_naming_the_holder(tmp_path: Path) -> None:
    holder = LockHolder(tmp_path / "pipedrive.lock", WHAT)
    try:
        with (
            pytest.raises(LockTimeout, match=r"load of run manual__1 .* \(pid \d+ on "),
            file_lock(tmp_path / "pipedrive.lock", timeout=0.5, poll=0.1),
        ):
            pass
    finally:
        holder.release()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    holder = LockHolder(tmp_path / "pipedrive.lock", WHAT)
    os.kill(holder.pid, signal.SIGKILL)
    holder.process.join(10)
    with file_lock(tmp_path / "pipedrive.lock", timeout=5, poll=0.1):
        pass  # acquired at once: the kernel released the dead holder's lock
