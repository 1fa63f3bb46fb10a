"""Doctor's storage checks: the staging root and the state directory are writable and, with workers on
several machines, shared; the Fernet key is there and opens the token vault.

Writability is probed with a temporary file that is deleted at once, the only thing doctor writes here.
Whether a folder is *shared* cannot be proven from one machine: the executor says whether tasks may run on
other machines, and the mount's filesystem type whether they could see the same files.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from ml_connector.onboarding.checks import Check, attempt, fail, ok, warn

AREA = "storage"
# Executors whose tasks may run on other machines than the scheduler's.
DISTRIBUTED_EXECUTORS = ("Celery", "Kubernetes", "Edge")
NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "lustre", "gpfs", "beegfs", "9p"}
)
SHARED_FIX = (
    "set {env} for every Airflow component to storage all workers reach ({what}), or run every worker on "
    "this machine"
)


def staging_checks(root: str) -> list[Check]:
    """The staging root (Parquet hand-offs, state, the write lease) is writable, and shared if it must be."""
    return [
        attempt(AREA, "staging root writable", lambda: _writable_root(root)),
        attempt(AREA, "staging root shared", lambda: _staging_shared(root)),
    ]


def state_checks(state_dir: Path) -> list[Check]:
    """The state directory (the token vault and its locks) is writable, and shared if it must be."""
    return [
        attempt(AREA, "state directory writable", lambda: _writable_dir(state_dir, "state directory")),
        attempt(AREA, "state directory shared", lambda: _state_shared(state_dir)),
    ]


def key_checks(conn_ids: list[str]) -> list[Check]:
    """The Fernet key is configured and decrypts what the vault holds for ``conn_ids``."""
    key = attempt(AREA, "Fernet key", _fernet_present)
    if key.status == "fail":
        return [key]
    return [key, attempt(AREA, "token vault readable", lambda: _vault_readable(conn_ids))]


# -- writable ------------------------------------------------------------------------------------------
def _writable_root(root: str) -> Check:
    from airflow.sdk import ObjectStoragePath

    path = ObjectStoragePath(root)
    if path.protocol in ("file", "local", ""):
        return _writable_dir(Path(str(path.path)), "staging root", root)
    probe = path / f".ml-connector-doctor-{uuid.uuid4().hex}"
    try:
        probe.write_bytes(b"probe")
        probe.unlink()
    except Exception as exc:
        return fail(
            AREA,
            "staging root writable",
            f"cannot write to {root}: {type(exc).__name__}",
            "check the storage connection named in the URL (its credentials may write to the bucket), or set "
            "ML_CONNECTOR_STAGING_ROOT to storage the workers may write",
        )
    return ok(AREA, "staging root writable", f"{root} takes and deletes a file")


def _writable_dir(folder: Path, what: str, shown: str | None = None) -> Check:
    """A temporary file in ``folder`` (or in its nearest existing parent, which a first run would create
    it under), deleted at once."""
    name = f"{what} writable"
    env = "ML_CONNECTOR_STAGING_ROOT" if what == "staging root" else "ML_CONNECTOR_STATE_DIR"
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    fix = f"give the user Airflow runs as write access to {existing}, or set {env} to a writable folder"
    if not existing.is_dir():
        return fail(AREA, name, f"{shown or folder}: {existing} is not a folder", fix)
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".ml-connector-doctor-"):
            pass
    except OSError as exc:
        return fail(AREA, name, f"cannot write to {existing} ({exc.strerror or type(exc).__name__})", fix)
    later = "" if existing == folder else f" (it does not exist yet; the first run creates it in {existing})"
    return ok(AREA, name, f"{shown or folder} takes and deletes a file{later}")


# -- shared --------------------------------------------------------------------------------------------
def executor() -> str:
    from airflow.configuration import conf

    return str(conf.get("core", "executor", fallback="LocalExecutor"))


def distributed(name: str) -> bool:
    """Whether the executor (or one of several, comma-separated) may run tasks on other machines."""
    return any(kind in name for kind in DISTRIBUTED_EXECUTORS)


def filesystem_type(folder: Path) -> str | None:
    """The type of the mount holding ``folder`` (Linux ``/proc/mounts``), None where that is unknown."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    target = str(existing.resolve())
    best, kind = "", None
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, parts[2]
    return kind


def _network(kind: str | None) -> bool:
    return kind is not None and (kind in NETWORK_FILESYSTEMS or kind.startswith("fuse."))


def _staging_shared(root: str) -> Check:
    from airflow.sdk import ObjectStoragePath

    name, env = "staging root shared", "ML_CONNECTOR_STAGING_ROOT"
    runs = executor()
    path = ObjectStoragePath(root)
    if not distributed(runs):
        return ok(AREA, name, f"the {runs} runs every task on this machine: {root} needs no sharing")
    if path.protocol not in ("file", "local", ""):
        return ok(AREA, name, f"{root} is object storage every worker of the {runs} reaches")
    return _local_shared(name, env, Path(str(path.path)), runs, "an s3://... URL or a shared folder")


def _state_shared(folder: Path) -> Check:
    name, env = "state directory shared", "ML_CONNECTOR_STATE_DIR"
    runs = executor()
    if not distributed(runs):
        return ok(AREA, name, f"the {runs} runs every task on this machine: {folder} needs no sharing")
    return _local_shared(name, env, folder, runs, "a shared mount with working flock, e.g. NFSv4")


def _local_shared(name: str, env: str, folder: Path, runs: str, what: str) -> Check:
    kind = filesystem_type(folder)
    fix = SHARED_FIX.format(env=env, what=what)
    if _network(kind):
        return ok(
            AREA, name, f"{folder} is on a {kind} mount: shared when every worker of the {runs} mounts it"
        )
    if not os.environ.get(env, "").strip():
        return fail(
            AREA,
            name,
            f"{env} is not set, so every worker of the {runs} keeps its own {folder}: a run's tasks on "
            "different workers do not see each other's files, leases or refreshed tokens",
            fix,
        )
    return warn(
        AREA,
        name,
        f"{folder} is on a local {kind or 'unknown'} filesystem: shared only by workers on this machine "
        f"(as a docker compose volume is); the {runs} may run tasks elsewhere",
        fix,
    )


# -- the key and the vault -----------------------------------------------------------------------------
def _fernet_present() -> Check:
    from ml_connector.credentials.keys import ENV_KEYS, VARIABLE_KEYS, load_fernet

    load_fernet()
    source = ENV_KEYS if os.environ.get(ENV_KEYS, "").strip() else f"the Airflow Variable {VARIABLE_KEYS}"
    return ok(AREA, "Fernet key", f"valid key(s) in {source}")


def _vault_readable(conn_ids: list[str]) -> Check:
    from ml_connector.credentials.vault import TokenVault

    vault = TokenVault.from_environment()
    stored = [conn_id for conn_id in conn_ids if vault.read(conn_id) is not None]
    if not stored:
        return ok(
            AREA, "token vault readable", f"{vault.root}: nothing stored yet (a first refresh stores it)"
        )
    return ok(AREA, "token vault readable", f"{vault.root}: the state of {', '.join(stored)} decrypts")
