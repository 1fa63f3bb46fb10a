"""The write lease: one holder at a time across threads and processes, bounded waits that name the holder,
takeover of a dead or silent holder, fencing of a holder that was taken over, and object storage."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support.locking import LeaseHolder

from ml_connector.load.lease import Holder, Lease, LeaseBusy, LeaseLost, LeaseUnsupported, lease
from ml_connector.staging.area import StagingArea

WHAT = "load of run manual__1 of workday_customers_to_pipedrive"
NAME = "pipedrive-company-1"


@pytest.fixture()
def area(tmp_path: Path) -> StagingArea:
    return StagingArea(f"file://{tmp_path / 'staging'}")


def epochs(area: StagingArea) -> list[str]:
    return area.names(area.root / "state" / "leases" / NAME)


def test_exactly_one_of_many_racing_creates_wins(area: StagingArea) -> None:
    path = area.root / "race" / "one.json"
    with ThreadPoolExecutor(16) as pool:
        won = list(pool.map(lambda i: area.create_exclusive(path, str(i).encode()), range(64)))
    assert won.count(True) == 1
    assert path.read_bytes() == str(won.index(True)).encode()  # the winner's bytes, whole


def test_a_second_holder_in_another_process_waits_and_says_for_whom(area: StagingArea) -> None:
    holder = LeaseHolder(str(area.root), NAME, WHAT, seconds=1.5)
    waits: list[tuple[Holder | None, float]] = []
    started = time.monotonic()
    with lease(area, NAME, "second", on_wait=lambda h, w: waits.append((h, w))) as held:
        waited = time.monotonic() - started
        held.check()
    holder.process.join(10)
    assert waited >= 1.0
    assert waits and waits[0][0] is not None
    assert (waits[0][0].what, waits[0][0].pid) == (WHAT, holder.pid)


def test_threads_of_one_process_take_turns(area: StagingArea) -> None:
    inside: list[int] = []
    overlaps: list[int] = []
    guard = threading.Lock()

    def work(i: int) -> None:
        held = Lease(area, NAME, f"worker {i}", poll=0.05)
        held.acquire(timedelta(seconds=30))
        try:
            with guard:
                inside.append(i)
                if len(inside) > 1:
                    overlaps.append(i)
            time.sleep(0.05)
            with guard:
                inside.remove(i)
        finally:
            held.release()

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(work, range(12)))
    assert overlaps == []


def test_a_bounded_wait_fails_naming_the_holder(area: StagingArea) -> None:
    holder = LeaseHolder(str(area.root), NAME, WHAT)
    try:
        with (
            pytest.raises(LeaseBusy, match=r"load of run manual__1 .* \(pid \d+ on "),
            lease(area, NAME, "second", wait=timedelta(seconds=0.5)),
        ):
            pass
    finally:
        holder.release()


def test_a_released_lease_is_taken_at_once_and_old_epochs_are_cleared(area: StagingArea) -> None:
    for i in range(4):
        started = time.monotonic()
        with lease(area, NAME, f"run {i}", ttl=timedelta(minutes=10)) as held:
            assert held.epoch == i + 1
        assert time.monotonic() - started < 5  # not the ten minutes of a silent holder
    names = epochs(area)
    assert "000000000004.json" in names and "000000000001.json" not in names
    beat = json.loads((area.root / "state" / "leases" / NAME / "000000000004.beat.json").read_bytes())
    assert beat["released"] is True


def test_a_killed_holder_of_this_machine_is_taken_over_at_once(area: StagingArea) -> None:
    holder = LeaseHolder(str(area.root), NAME, WHAT, ttl_s=600)
    os.kill(holder.pid, signal.SIGKILL)
    holder.process.join(10)
    started = time.monotonic()
    with lease(area, NAME, "after the kill", wait=timedelta(seconds=30)) as held:
        assert held.epoch == 2
    assert time.monotonic() - started < 10  # not the holder's ten-minute ttl


def test_a_silent_holder_is_taken_over_after_its_ttl_and_then_refuses_to_write(area: StagingArea) -> None:
    first = Lease(area, NAME, "paused load", ttl=timedelta(seconds=1))
    first.acquire()
    first._stop.set()  # its renewals stop, as in a paused or cut-off process
    assert first._thread is not None
    first._thread.join(5)
    started = time.monotonic()
    second = Lease(area, NAME, "next load", ttl=timedelta(seconds=1), poll=0.1)
    second.acquire(timedelta(seconds=20))
    assert 0.9 <= time.monotonic() - started < 10
    with pytest.raises(LeaseLost, match="taken over by next load"):
        first.check()
    second.check()
    second.release()
    first.release()  # harmless: it no longer holds anything


def _fake_holder(area: StagingArea, *, beats: bool) -> threading.Event:
    """Epoch 1 held by a process of another machine; with ``beats`` it keeps renewing until the event."""
    folder = area.root / "state" / "leases" / NAME
    other = Holder("load on worker-2", "worker-2", 4242, "another-machine", "1", 1.0, uuid.uuid4().hex)
    area.create_exclusive(folder / "000000000001.json", json.dumps(other.__dict__).encode())
    stop = threading.Event()

    def renew() -> None:
        n = 0
        while beats and not stop.wait(0.2):
            n += 1
            area.write_json(folder / "000000000001.beat.json", {"beat": n, "released": False})

    threading.Thread(target=renew, daemon=True).start()
    return stop


def test_a_live_holder_of_another_machine_is_never_taken_over(area: StagingArea) -> None:
    stop = _fake_holder(area, beats=True)
    try:
        with pytest.raises(LeaseBusy, match=r"load on worker-2 \(pid 4242 on worker-2\)"):
            Lease(area, NAME, "second", poll=0.1).acquire(timedelta(seconds=3))
    finally:
        stop.set()


def test_a_silent_holder_of_another_machine_expires_by_its_ttl(area: StagingArea) -> None:
    _fake_holder(area, beats=False)
    started = time.monotonic()
    with lease(area, NAME, "second", wait=timedelta(seconds=20)) as held:
        assert held.epoch == 2
    assert time.monotonic() - started >= 0.9


def test_an_object_store_root_holds_the_lease_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """fsspec's in-memory store stands for a bucket: no links, no flock, only exclusive create ("xb")."""
    import fsspec
    from airflow.sdk.io import fs

    registered: Any = fs._register_filesystems()
    monkeypatch.setitem(registered, "memory", lambda conn_id, options: fsspec.filesystem("memory"))
    store = StagingArea(f"memory://leases-{uuid.uuid4().hex}")
    with lease(store, NAME, "first") as held:
        with pytest.raises(LeaseBusy):
            Lease(store, NAME, "second", poll=0.05).acquire(timedelta(seconds=0.3))
        held.check()
    with lease(store, NAME, "second") as held:
        assert held.epoch == 2


def test_storage_without_exclusive_create_is_refused_naming_the_root(
    area: StagingArea, monkeypatch: pytest.MonkeyPatch
) -> None:
    def always(path: Any, data: bytes) -> bool:
        area.write_bytes(path, data)
        return True

    monkeypatch.setattr(area, "create_exclusive", always)
    with pytest.raises(LeaseUnsupported, match=r"does not refuse a second exclusive create"):
        Lease(area, NAME, "x").acquire()
