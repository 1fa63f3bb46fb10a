"""At most one writer per Pipedrive company at a time, whoever started it: a lease that expires by itself.

The lease lives in the staging area, beside the state it protects, and needs one conditional write that
local folders, NFS and object stores all offer: *create a file only if it does not exist yet*
(:meth:`ml_connector.staging.area.StagingArea.create_exclusive`). Under ``state/leases/<name>/``:

- Taking the lease creates epoch ``n + 1`` (``<n>.json``, naming the holder). Exactly one contender can
  create a given epoch; every other one sees it and waits.
- The holder shows it is alive by rewriting its heartbeat (``<n>.beat.json``, a counter) every
  ``ttl / 4`` from a background thread, and marks it released when done.
- A waiter takes the next epoch when the lease was released, when its holder is a process of this very
  machine that no longer exists (at once), or when it has watched the heartbeat stand still for a whole
  ``ttl`` on its own clock, so the clocks of different machines never need to agree.
- Fencing: before each write the holder calls :meth:`Lease.check`, which refuses (:class:`LeaseLost`) once
  a newer epoch exists or the lease was not confirmed for ``ttl / 2``. A holder that was paused or cut off
  stops writing before a waiter can take over, which needs a whole ``ttl`` of silence.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from ml_connector.errors import ConnectorError, Remedy
from ml_connector.staging.area import StagingArea
from ml_connector.staging.files import StateFiles

log = logging.getLogger(__name__)

LEASE_TTL = timedelta(minutes=2)
LEASE_WAIT = timedelta(hours=1)
_EPOCH = re.compile(r"^(\d{12})\.json$")
_probed: set[str] = set()
_probed_lock = threading.Lock()


class LeaseBusy(ConnectorError, RuntimeError):
    """Another writer kept the lease for longer than this one waits; Airflow retries the task later."""

    remedy = Remedy.RETRY


class LeaseLost(ConnectorError, RuntimeError):
    """The lease was taken over (or could not be confirmed): nothing more may be written in this try."""

    remedy = Remedy.RETRY
    stops_run = True


class LeaseUnsupported(ConnectorError, RuntimeError):
    """The staging storage cannot create a file exclusively, so no lease can be kept on it."""

    remedy = Remedy.PERSON


@dataclass(frozen=True)
class Holder:
    """Who holds an epoch: what it is doing, and enough to tell whether its process still exists."""

    what: str
    host: str
    pid: int
    machine: str  # boot id and PID namespace: processes of one machine see each other's pids
    started: str  # the process's start time in clock ticks, so a reused pid is not mistaken for it
    ttl_s: float
    token: str

    @classmethod
    def me(cls, what: str, ttl: timedelta) -> Holder:
        pid = os.getpid()
        return cls(
            what, socket.gethostname(), pid, _machine(), _started(pid), ttl.total_seconds(), uuid.uuid4().hex
        )

    @classmethod
    def from_json(cls, value: Any) -> Holder | None:
        try:
            return cls(**{name: value[name] for name in cls.__dataclass_fields__})
        except (KeyError, TypeError):
            return None

    def describe(self) -> str:
        return f"{self.what} (pid {self.pid} on {self.host})"

    def is_gone(self) -> bool:
        """True only when certain: a process of this machine whose pid is free or was reused since."""
        if not self.machine or self.machine != _machine():
            return False
        return _started(self.pid) != self.started


class Lease:
    """One named lease in the staging area, taken with :meth:`acquire` and given back with :meth:`release`."""

    def __init__(
        self,
        area: StagingArea,
        name: str,
        what: str,
        *,
        ttl: timedelta = LEASE_TTL,
        poll: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.area = area
        self.name = name
        self.folder = StateFiles(area).lease_dir(name)
        self.ttl = ttl.total_seconds()
        self.poll = poll
        self.clock = clock
        self.holder = Holder.me(what, ttl)
        self.epoch: int | None = None
        self._beats = 0
        self._confirmed = 0.0
        self._lost: str | None = None
        self._confirm_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- taking and giving back -----------------------------------------------------------------------
    def acquire(
        self, wait: timedelta = LEASE_WAIT, on_wait: Callable[[Holder | None, float], None] | None = None
    ) -> None:
        """Take the lease, waiting up to ``wait``; ``on_wait(holder, waited_s)`` is called when the wait
        starts and about every minute after. Raises :class:`LeaseBusy` naming the holder."""
        self._probe()
        started = self.clock()
        next_notice = started
        seen: tuple[tuple[int, int], float] | None = None  # (epoch, beat) and when it was first seen
        while True:
            latest = self._latest()
            holder = self._holder(latest) if latest else None
            beat = self._beat(latest) if latest else {}
            now = self.clock()
            if latest == 0 or beat.get("released"):
                candidate: int | None = latest + 1
            elif holder is not None and holder.is_gone():
                log.warning("lease %s: its holder %s is gone; taking over", self.name, holder.describe())
                candidate = latest + 1
            else:
                key = (latest, int(beat.get("beat", -1)))
                if seen is None or seen[0] != key:
                    seen = (key, now)
                ttl = holder.ttl_s if holder is not None else self.ttl
                if now - seen[1] >= ttl:
                    log.warning(
                        "lease %s: no heartbeat from %s for %.0f s; taking over",
                        self.name,
                        holder.describe() if holder else "an unknown holder",
                        now - seen[1],
                    )
                    candidate = latest + 1
                else:
                    candidate = None
            if candidate is not None and self._create(candidate):
                return
            if candidate is not None:
                continue  # another contender made that epoch first: look again at once
            waited = now - started
            if waited >= wait.total_seconds():
                who = holder.describe() if holder else "an unknown holder"
                raise LeaseBusy(
                    f"the lease {self.name} is still held after {wait} by {who}; this task is retried later. "
                    f"A holder that died stops renewing it and loses it within {timedelta(seconds=self.ttl)}."
                )
            if on_wait is not None and now >= next_notice:
                on_wait(holder, waited)
                next_notice = now + 60
            time.sleep(min(self.poll, max(0.0, wait.total_seconds() - waited)))

    def release(self) -> None:
        """Stop renewing and mark the epoch released, so a waiter takes over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.epoch is None:
            return
        with self._confirm_lock:
            if self._lost is None and not self._newer():
                self._write_beat(released=True)
        self.epoch = None

    # -- fencing --------------------------------------------------------------------------------------
    def check(self) -> None:
        """Raise :class:`LeaseLost` unless this holder may still write."""
        if self.epoch is None:
            raise LeaseLost(f"the lease {self.name} is not held")
        if self._lost is None and self.clock() - self._confirmed > self.ttl / 2:
            try:
                self._confirm()
            except LeaseLost:
                raise
            except Exception as exc:
                self._lost = f"it could not be renewed for {self.ttl / 2:.0f} s ({type(exc).__name__}: {exc})"
        if self._lost is not None:
            raise LeaseLost(
                f"the lease {self.name} was lost: {self._lost}; nothing more is written in this try"
            )

    # -- internals ------------------------------------------------------------------------------------
    def _create(self, epoch: int) -> bool:
        data = json.dumps(asdict(self.holder), sort_keys=True).encode()
        if not self.area.create_exclusive(self.folder / f"{epoch:012d}.json", data):
            return False
        self.epoch = epoch
        self._confirmed = self.clock()
        self._write_beat()
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew, name=f"lease-{self.name}", daemon=True)
        self._thread.start()
        self._forget_before(epoch - 1)
        return True

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                self._confirm()
            except LeaseLost:
                return
            except Exception as exc:  # check() refuses writes once ttl / 2 passes without a renewal
                log.warning("lease %s: could not renew: %s", self.name, exc)

    def _confirm(self) -> None:
        with self._confirm_lock:
            if self._lost is not None:
                raise LeaseLost(self._lost)
            newer = self._newer()
            if newer:
                taker = self._holder(newer)
                self._lost = f"taken over by {taker.describe() if taker else 'another writer'}"
                log.error("lease %s: %s", self.name, self._lost)
                raise LeaseLost(self._lost)
            self._write_beat()
            self._confirmed = self.clock()

    def _write_beat(self, *, released: bool = False) -> None:
        assert self.epoch is not None
        self._beats += 1
        beat = {"beat": self._beats, "released": released, "token": self.holder.token}
        self.area.write_json(self.folder / f"{self.epoch:012d}.beat.json", beat)

    def _epochs(self) -> list[int]:
        return sorted(int(m.group(1)) for name in self.area.names(self.folder) if (m := _EPOCH.match(name)))

    def _latest(self) -> int:
        epochs = self._epochs()
        return epochs[-1] if epochs else 0

    def _newer(self) -> int:
        assert self.epoch is not None
        latest = self._latest()
        return latest if latest > self.epoch else 0

    def _holder(self, epoch: int) -> Holder | None:
        return Holder.from_json(self.area.read_json(self.folder / f"{epoch:012d}.json", default={}))

    def _beat(self, epoch: int) -> dict[str, Any]:
        value = self.area.read_json(self.folder / f"{epoch:012d}.beat.json", default={})
        return value if isinstance(value, dict) else {}

    def _forget_before(self, epoch: int) -> None:
        """Old epochs say nothing any more; the one just before the current one is kept for a look."""
        for old in self._epochs():
            if old < epoch:
                for suffix in (".json", ".beat.json"):
                    with suppress(OSError):
                        self.area.delete(self.folder / f"{old:012d}{suffix}")

    def _probe(self) -> None:
        """Once per storage root and process: refuse storage whose exclusive create does not refuse."""
        root = str(self.area.root)
        with _probed_lock:
            if root in _probed:
                return
            probe = StateFiles(self.area).lease_dir("probes") / f"{uuid.uuid4().hex}.json"
            first = self.area.create_exclusive(probe, b"{}")
            second = self.area.create_exclusive(probe, b"{}")
            with suppress(OSError):
                self.area.delete(probe)
            if not first or second:
                raise LeaseUnsupported(
                    f"the staging root {root} does not refuse a second exclusive create of one file, so no "
                    "lease can be kept there: use a local folder, NFS, or an object store with conditional "
                    "writes (S3, GCS, Azure Blob through a current fsspec backend)"
                )
            _probed.add(root)


@contextmanager
def lease(
    area: StagingArea,
    name: str,
    what: str,
    *,
    wait: timedelta = LEASE_WAIT,
    ttl: timedelta = LEASE_TTL,
    on_wait: Callable[[Holder | None, float], None] | None = None,
) -> Iterator[Lease]:
    """Hold lease ``name`` for the block; ``what`` names the holder for those who wait."""
    held = Lease(area, name, what, ttl=ttl)
    held.acquire(wait, on_wait)
    try:
        yield held
    finally:
        held.release()


def _machine() -> str:
    """This machine's boot id and PID namespace; empty where /proc does not tell (then only time decides)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            boot = handle.read().strip()
        return f"{boot}:{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return ""


def _started(pid: int) -> str:
    """The start time of process ``pid`` (``""`` when there is no such process)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return fields[19]
    except (OSError, IndexError):
        return ""
