"""Token state on disk: one Fernet-encrypted JSON file per connection, and a lock per connection.

Why a file store and not an Airflow Variable or XCom: a rotated refresh token must be saved before
the new access token is used, by whichever task refreshed it, and must never be readable in the UI,
the metadata DB or XCom. Files under the state directory, encrypted and written atomically (temp
file, fsync, rename), meet that without a server round trip.

The lock (:func:`ml_connector.staging.locks.file_lock`) keeps refreshes of one connection single-flight on
one machine. Workers on several machines share the guarantee only if the
state directory is on storage they all mount (a shared volume with working ``flock``, e.g. NFSv4);
otherwise each machine keeps its own state and a rotating refresh token will be used by only one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.fernet import InvalidToken, MultiFernet

from ml_connector.credentials.keys import KEY_SETTINGS, load_fernet
from ml_connector.errors import ConnectorError, Remedy
from ml_connector.staging.atomic import atomic_write
from ml_connector.staging.locks import file_lock

STATE_DIR_ENV = "ML_CONNECTOR_STATE_DIR"
_SUFFIX = ".fernet"
_LOCK_SUFFIX = ".lock"


class VaultError(ConnectorError, RuntimeError):
    """Stored state cannot be read or written; the message names the connection or file, never a secret."""

    remedy = Remedy.PERSON


def default_state_dir() -> Path:
    """``$ML_CONNECTOR_STATE_DIR``, else ``$AIRFLOW_HOME/ml_connector/state`` (Airflow's home defaults to ~/airflow)."""
    configured = os.environ.get(STATE_DIR_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    airflow_home = os.environ.get("AIRFLOW_HOME", "").strip() or "~/airflow"
    return Path(airflow_home).expanduser() / "ml_connector" / "state"


def entry_stem(conn_id: str) -> str:
    """A file name stem for a connection id: readable, confined to the directory, and collision-free."""
    readable = re.sub(r"[^A-Za-z0-9_-]", "_", conn_id)[:64]
    digest = hashlib.sha256(conn_id.encode()).hexdigest()[:16]
    return f"{readable}-{digest}"


class TokenVault:
    """Encrypted per-connection state under ``root``; safe across threads and processes sharing ``root``."""

    def __init__(self, root: Path, fernet: MultiFernet) -> None:
        self.root = Path(root)
        self._fernet = fernet

    @classmethod
    def from_environment(cls) -> TokenVault:
        """The vault the hooks use: ``<state dir>/credentials`` and the configured keys."""
        return cls(default_state_dir() / "credentials", load_fernet())

    def path_for(self, conn_id: str) -> Path:
        return self.root / f"{entry_stem(conn_id)}{_SUFFIX}"

    def read(self, conn_id: str) -> dict[str, Any] | None:
        """The stored state of ``conn_id``, or ``None`` if there is none yet."""
        path = self.path_for(conn_id)
        try:
            token = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            state = json.loads(self._fernet.decrypt(token))
        except InvalidToken:
            raise VaultError(
                f"Stored credential state of connection {conn_id!r} ({path.name}) cannot be decrypted "
                f"with the configured keys ({KEY_SETTINGS}). The key that wrote it is missing: put it "
                "back after the new key, or delete the file to start again from the connection's "
                "refresh token (only if that token has not been rotated since)."
            ) from None
        except ValueError:
            raise VaultError(
                f"Stored credential state of connection {conn_id!r} ({path.name}) is not valid JSON"
            ) from None
        if not isinstance(state, dict):
            raise VaultError(
                f"Stored credential state of connection {conn_id!r} ({path.name}) is not an object"
            )
        return state

    def write(self, conn_id: str, state: dict[str, Any]) -> None:
        """Encrypt and store ``state`` so that a crash leaves either the old or the new file, never half."""
        self._write_bytes(self.path_for(conn_id), self._fernet.encrypt(json.dumps(state).encode()))

    @contextlib.contextmanager
    def lock(self, conn_id: str) -> Iterator[None]:
        """Hold the connection's lock (threads of this process and other processes); not re-entrant."""
        with self._locked(self.root / f"{entry_stem(conn_id)}{_LOCK_SUFFIX}"):
            yield

    def rotate(self) -> int:
        """Re-encrypt every entry under the primary key; returns how many entries were rewritten."""
        count = 0
        for path in sorted(self.root.glob(f"*{_SUFFIX}")):
            with self._locked(path.with_suffix(_LOCK_SUFFIX)):
                try:
                    token = self._fernet.rotate(path.read_bytes())
                except FileNotFoundError:
                    continue
                except InvalidToken:
                    raise VaultError(
                        f"{path.name} cannot be decrypted with any configured key ({KEY_SETTINGS}); "
                        "keep the old key after the new one until rotate-key has run. "
                        f"{count} entries were re-encrypted before it."
                    ) from None
                self._write_bytes(path, token)
                count += 1
        return count

    # -- internals ----------------------------------------------------------------------------------
    def _ensure_root(self) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _write_bytes(self, path: Path, data: bytes) -> None:
        self._ensure_root()
        atomic_write(path, data, mode=0o600)

    @contextlib.contextmanager
    def _locked(self, lock_path: Path) -> Iterator[None]:
        self._ensure_root()
        with file_lock(lock_path):
            yield
