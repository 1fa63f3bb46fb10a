"""Reading an Airflow connection into a hook's settings: the parts both hooks share.

Kept free of Airflow imports so config parsing is unit-testable with a plain object.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from pydantic import ValidationError

log = logging.getLogger(__name__)


class ConnectionLike(Protocol):
    """What is read from an Airflow ``Connection``."""

    conn_id: str
    host: str | None
    port: int | None
    schema: str | None
    login: str | None
    password: str | None

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


def connection_extras(
    conn: ConnectionLike, conn_type: str, known: Iterable[str], known_prefixes: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The extras as plain keys (older forms stored ``extra__<type>__<name>``); unknown ones are logged."""
    prefix = f"extra__{conn_type}__"
    extra = {key.removeprefix(prefix): value for key, value in (conn.extra_dejson or {}).items()}
    unknown = sorted(key for key in set(extra) - set(known) if not key.startswith(known_prefixes))
    if unknown:
        log.warning("%s connection '%s': ignoring unknown extras %s", conn_type, conn.conn_id, unknown)
    return extra


def base_url(host: str, port: int | None, protocol: Any, *, what: str) -> str:
    """``scheme://host[:port][/path]``: the scheme from the host if it has one, else from ``protocol``."""
    host = host.strip().rstrip("/")
    if "://" not in host:
        host = f"{str(protocol or 'https').strip().lower()}://{host}"
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"'{host}' is not an http(s) {what}")
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    return f"{parts.scheme}://{netloc}{parts.path}"


def as_bool(value: Any) -> Any:
    """Extras from URIs arrive as text: ``"false"`` must not be truthy."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    return value


def describe_invalid(system: str, conn_id: str, exc: ValidationError, sources: Mapping[str, str]) -> str:
    """One line per problem, naming the field as the connection form shows it; never the input value."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        name = str(error["loc"][0]) if error["loc"] else ""
        where = sources.get(name) or (f"extra '{name}'" if name else "")
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return f"{system} connection '{conn_id}' is invalid: " + "; ".join(problems)
