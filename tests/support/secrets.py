"""Looking for credentials where none may be: files the product wrote, logs, error messages, a database dump.

A secret counts as found in its raw form or URL-encoded (as it would stand in a connection URI). Only
where it was found is reported, never the secret itself.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import quote

import pyarrow.parquet as pq


def file_texts(root: Path) -> Iterator[tuple[str, str]]:
    """``(path relative to root, text)`` of every file below ``root``; Parquet tables as JSON rows."""
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".parquet":
            text = json.dumps(pq.read_table(path).to_pylist(), default=str)
        else:
            text = path.read_text(encoding="utf-8", errors="replace")
        yield str(path.relative_to(root)), text


def leaks(texts: Iterable[tuple[str, str]], secrets: Iterable[str]) -> set[str]:
    """The names of the texts that hold any of ``secrets`` (those shorter than 8 characters are ignored:
    they would match by chance)."""
    forms = [(s, quote(s, safe="")) for s in secrets if len(s) >= 8]
    return {name for name, text in texts if any(f in text for pair in forms for f in pair)}


def database_dump(database: str) -> str:
    """The data of a PostgreSQL database on 127.0.0.1, as ``pg_dump --data-only`` writes it."""
    return subprocess.run(
        ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "--data-only", database],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
