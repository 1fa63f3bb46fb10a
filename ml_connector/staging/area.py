"""The staging area: Parquet files tasks hand to each other, and state that outlives a run.

Tasks never pass data through XCom. Each step writes ``runs/<dag_id>/<run_id>/<step>.parquet`` under
one root and the next step reads it, so any task can be cleared and re-run by hand: it re-reads its
input and replaces its output. State (watermarks, identity map, pushed hashes, pinned field keys)
lives under ``state/<entity>/``. Which files exist, and who writes them, is :mod:`ml_connector.staging.files`'s;
this module only knows how to keep bytes under a root.

The root is an :class:`airflow.sdk.ObjectStoragePath` URL: ``file:///...`` by default, or any fsspec
URL such as ``s3://aws_default@bucket/ml-connector`` for multi-worker deployments. Writes are atomic:
a local file is written beside its target and renamed over it; an object store's single PUT already
is all-or-nothing.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from airflow.sdk import ObjectStoragePath

from ml_connector.staging.atomic import atomic_output, atomic_write, exclusive_create

ROOT_ENV = "ML_CONNECTOR_STAGING_ROOT"
# Rows a streamed read hands over at once: a few MB of Workday JSON, whatever the tenant's size.
BATCH_ROWS = 2_000
_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def default_root() -> str:
    """``$ML_CONNECTOR_STAGING_ROOT``, else ``file://$AIRFLOW_HOME/ml_connector``."""
    configured = os.environ.get(ROOT_ENV)
    if configured:
        return configured
    home = os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow"))
    return f"file://{os.path.abspath(home)}/ml_connector"


def safe_segment(value: str) -> str:
    """A run id such as ``scheduled__2026-11-27T00:00:00+00:00`` as one portable path segment."""
    cleaned = _UNSAFE.sub("_", value).strip("._")
    if not cleaned:
        raise ValueError(f"cannot derive a path segment from {value!r}")
    return cleaned


class StagingArea:
    """Paths and atomic I/O under one root; the only module that touches staging storage."""

    # One lock for every append in the process: journal lines from concurrent writers never interleave.
    _append_lock = threading.Lock()

    def __init__(self, root: str | ObjectStoragePath | None = None) -> None:
        self.root = ObjectStoragePath(root or default_root())

    # -- paths ----------------------------------------------------------------------------------------
    def run_dir(self, dag_id: str, run_id: str) -> ObjectStoragePath:
        return self.root / "runs" / safe_segment(dag_id) / safe_segment(run_id)

    def stage_path(self, dag_id: str, run_id: str, step: str) -> ObjectStoragePath:
        """Where ``step`` of one DAG run keeps its output, e.g. ``extracted_customers``."""
        return self.run_dir(dag_id, run_id) / f"{safe_segment(step)}.parquet"

    def state_path(self, entity: str, name: str) -> ObjectStoragePath:
        return self.root / "state" / safe_segment(entity) / safe_segment(name)

    # -- atomic I/O -----------------------------------------------------------------------------------
    def write_bytes(self, path: ObjectStoragePath, data: bytes) -> None:
        if path.protocol in ("file", "local", ""):
            atomic_write(Path(str(path.path)), data)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def create_exclusive(self, path: ObjectStoragePath, data: bytes) -> bool:
        """Write ``path`` only if nothing is there yet; ``False`` when something is. The one conditional
        write the lease needs: a hard link locally, fsspec's exclusive mode ``xb`` elsewhere (S3's
        ``If-None-Match``, GCS's generation match, Azure's no-overwrite)."""
        if path.protocol in ("file", "local", ""):
            return exclusive_create(Path(str(path.path)), data)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with path.fs.open(str(path.path), "xb") as handle:
                handle.write(data)
        except FileExistsError:
            return False
        return True

    def names(self, folder: ObjectStoragePath) -> list[str]:
        """The names of the files in ``folder`` (none when it does not exist)."""
        if not folder.exists():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_file())

    def write_table(self, path: ObjectStoragePath, table: pa.Table) -> None:
        with self.table_writer(path, table.schema) as writer:
            writer.write_table(table)

    @contextmanager
    def table_writer(self, path: ObjectStoragePath, schema: pa.Schema) -> Iterator[pq.ParquetWriter]:
        """A Parquet writer for ``path``, one row group per ``write_table`` call, so a task can stream what
        it reads instead of holding it. The file appears complete or not at all: locally it is renamed
        into place at the end; for an object store it is spooled to a local file and uploaded in one PUT.
        """
        if path.protocol in ("file", "local", ""):
            with atomic_output(Path(str(path.path))) as tmp, _parquet_writer(tmp, schema) as writer:
                yield writer
            return
        with tempfile.TemporaryDirectory(prefix="ml-connector-") as spool:
            tmp = Path(spool) / path.name
            with _parquet_writer(tmp, schema) as writer:
                yield writer
            path.parent.mkdir(parents=True, exist_ok=True)
            path.fs.put_file(str(tmp), str(path.path))

    def read_table(self, path: ObjectStoragePath, columns: list[str] | None = None) -> pa.Table:
        with self._parquet_file(path) as parquet:
            return parquet.read(columns=columns)

    def iter_batches(
        self, path: ObjectStoragePath, *, batch_size: int = BATCH_ROWS, columns: list[str] | None = None
    ) -> Iterator[pa.RecordBatch]:
        """A staged table a batch at a time: what a task holds is one batch, whatever the file's size."""
        with self._parquet_file(path) as parquet:
            yield from parquet.iter_batches(batch_size=batch_size, columns=columns)

    def read_rows(self, path: ObjectStoragePath, where: pc.Expression) -> pa.Table:
        """The rows of a staged table that match ``where``, filtered a batch at a time."""
        with self._parquet_file(path) as parquet:
            kept = [
                pa.Table.from_batches([batch]).filter(where)
                for batch in parquet.iter_batches(batch_size=BATCH_ROWS)
            ]
            return pa.concat_tables(kept) if kept else parquet.schema_arrow.empty_table()

    def schema(self, path: ObjectStoragePath) -> pa.Schema:
        """A staged table's schema, from its footer."""
        with self._parquet_file(path) as parquet:
            return parquet.schema_arrow

    def count_rows(self, path: ObjectStoragePath) -> int:
        """The rows of a staged table, from its footer (nothing else is read)."""
        with self._parquet_file(path) as parquet:
            return int(parquet.metadata.num_rows)

    @contextmanager
    def _parquet_file(self, path: ObjectStoragePath) -> Iterator[pq.ParquetFile]:
        if not path.exists():
            raise FileNotFoundError(
                f"staged file {path} does not exist: run the task that produces it first (clear upstream tasks)"
            )
        if path.protocol in ("file", "local", ""):
            with pq.ParquetFile(str(path.path)) as parquet:
                yield parquet
            return
        with path.fs.open(str(path.path), "rb") as handle, pq.ParquetFile(handle) as parquet:
            yield parquet

    def write_json(self, path: ObjectStoragePath, value: Any) -> None:
        self.write_bytes(path, json.dumps(value, sort_keys=True, default=str).encode())

    def read_json(self, path: ObjectStoragePath, default: Any = None) -> Any:
        if not path.exists():
            return default
        return json.loads(path.read_bytes())

    # -- append-only journals -------------------------------------------------------------------------
    def append_line(self, path: ObjectStoragePath, line: str) -> None:
        """Append one line and make it durable before returning (fsync on local storage).

        Thread-safe within the process. Object stores cannot append: there the file is rewritten whole
        (one PUT), which is still all-or-nothing per line but costs a read per append.
        """
        if "\n" in line:
            raise ValueError("a journal line must not contain a newline")
        data = (line + "\n").encode()
        with self._append_lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.protocol in ("file", "local", ""):
                fd = os.open(str(path.path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                try:
                    os.write(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            else:
                previous = path.read_bytes() if path.exists() else b""
                path.write_bytes(previous + data)

    def read_lines(self, path: ObjectStoragePath) -> list[str]:
        """The complete lines of a journal; a torn last line (a crash mid-write) is left out."""
        if not path.exists():
            return []
        text = path.read_bytes().decode()
        lines = text.split("\n")
        return [line for line in lines[:-1] if line.strip()]

    def delete(self, path: ObjectStoragePath) -> None:
        """Remove one file if it exists."""
        if path.exists():
            path.unlink()

    # -- retention ------------------------------------------------------------------------------------
    def iter_run_dirs(self) -> Iterator[ObjectStoragePath]:
        runs = self.root / "runs"
        if not runs.exists():
            return
        for dag_dir in runs.iterdir():
            if dag_dir.is_dir():
                yield from (run for run in dag_dir.iterdir() if run.is_dir())

    def cleanup(self, retention: timedelta, now: datetime | None = None) -> list[str]:
        """Delete run folders whose newest file is older than ``retention``; state is never touched."""
        cutoff = (now or datetime.now(UTC)) - retention
        removed: list[str] = []
        for run_dir in list(self.iter_run_dirs()):
            files = [p for p in run_dir.rglob("*") if p.is_file()]
            newest = max((_modified(p) for p in files), default=None)
            if newest is None or newest < cutoff:
                run_dir.fs.rm(str(run_dir.path), recursive=True)
                removed.append(str(run_dir))
        return removed


def _parquet_writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    return pq.ParquetWriter(str(path), schema, compression="zstd")


def _modified(path: ObjectStoragePath) -> datetime:
    """Last-modified time across fsspec backends (local ``mtime``, S3 ``LastModified``)."""
    info = path.stat()
    value = info.get("mtime") or info.get("LastModified") or info.get("created")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if value is None:
        raise ValueError(f"storage reports no modification time for {path}")
    return datetime.fromtimestamp(float(value), tz=UTC)
