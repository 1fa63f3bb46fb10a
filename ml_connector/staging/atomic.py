"""The one way the product replaces (or exclusively creates) a local file: all or nothing, durable, and
never half-written.

Write a temporary file beside the target, fsync it, rename (or hard-link) it to the target, fsync the
folder so the rename itself survives a crash, and remove the temporary file if anything fails on the way.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data``; a crash leaves the old file or the new one, never a mix."""
    with _complete_copy(path, data, mode) as tmp:
        os.replace(tmp, path)
    fsync_dir(path.parent)


def exclusive_create(path: Path, data: bytes, *, mode: int = 0o644) -> bool:
    """Create ``path`` holding ``data`` unless it exists; ``False`` when it does. All or nothing: a
    complete temporary file is hard-linked to the name, and a link never replaces an existing file."""
    with _complete_copy(path, data, mode) as tmp:
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
    fsync_dir(path.parent)
    return True


@contextlib.contextmanager
def atomic_output(path: Path, *, mode: int = 0o644) -> Iterator[Path]:
    """A temporary file beside ``path`` for the caller to fill (a streamed Parquet file, say); when the
    block ends without error it is fsynced and renamed over ``path``, otherwise removed."""
    with _temporary_beside(path) as tmp:
        yield tmp
        _make_durable(tmp, mode)
        os.replace(tmp, path)
    fsync_dir(path.parent)


@contextlib.contextmanager
def _complete_copy(path: Path, data: bytes, mode: int) -> Iterator[Path]:
    """A temporary file beside ``path`` holding ``data``, written and fsynced; removed afterwards
    (once renamed over ``path`` there is nothing left to remove)."""
    with _temporary_beside(path) as tmp:
        tmp.write_bytes(data)
        _make_durable(tmp, mode)
        yield tmp


@contextlib.contextmanager
def _temporary_beside(path: Path) -> Iterator[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _make_durable(tmp: Path, mode: int) -> None:
    os.chmod(tmp, mode)
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable; some file systems do not support it, which is harmless."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
