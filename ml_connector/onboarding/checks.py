"""One doctor check's verdict, and the two ways it is shown: a line per check for people, JSON for scripts.

A verdict names what was checked, what was found and, when something is wrong, what to change. Its text
is scrubbed before it leaves: the product's messages carry no secret by design, but a library's or a
server's may, so known secrets (the connections', the vault's) and credential-shaped text are masked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Literal

from ml_connector.errors import ConnectorError
from ml_connector.scrub import remove_secrets, scrub

Status = Literal["ok", "warn", "fail", "skip"]
SYMBOLS: dict[Status, str] = {"ok": "✔", "warn": "!", "fail": "✖", "skip": "-"}


@dataclass(frozen=True)
class Check:
    """One verdict: ``area`` (storage, workday, pipedrive, fields, estimate), what was checked, what was
    found, and the fix when it is not ``ok``; ``dag_id`` when it concerns one DAG's mapping."""

    area: str
    name: str
    status: Status
    message: str
    fix: str = ""
    dag_id: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return asdict(self)


def ok(area: str, name: str, message: str, *, dag_id: str | None = None) -> Check:
    return Check(area, name, "ok", message, dag_id=dag_id)


def warn(area: str, name: str, message: str, fix: str = "", *, dag_id: str | None = None) -> Check:
    return Check(area, name, "warn", message, fix, dag_id)


def fail(area: str, name: str, message: str, fix: str = "", *, dag_id: str | None = None) -> Check:
    return Check(area, name, "fail", message, fix, dag_id)


def skip(area: str, name: str, why: str, *, dag_id: str | None = None) -> Check:
    return Check(area, name, "skip", why, dag_id=dag_id)


def describe(exc: BaseException) -> str:
    """An error as one message: the product's own as written (they name the fix), anyone else's with its
    class and credential-shaped text masked."""
    if isinstance(exc, ConnectorError):
        return str(exc)
    return scrub(f"{type(exc).__name__}: {exc}")


def attempt(
    area: str, name: str, step: Callable[[], Check], fix: str = "", dag_id: str | None = None
) -> Check:
    """``step``'s verdict, or a failed one carrying the error it raised."""
    try:
        return step()
    except Exception as exc:
        return fail(area, name, describe(exc), fix, dag_id=dag_id)


def failed(checks: Iterable[Check]) -> bool:
    return any(c.status == "fail" for c in checks)


def render_text(checks: Sequence[Check], secrets: Iterable[str | None] = ()) -> str:
    """``✔ area  name: message``, and ``    fix: ...`` under what is not ok; a summary line last."""
    lines = []
    for c in scrubbed(checks, secrets):
        where = f" [{c.dag_id}]" if c.dag_id else ""
        lines.append(f"{SYMBOLS[c.status]} {c.area:<9} {c.name}{where}: {c.message}")
        if c.fix and c.status != "ok":
            lines.append(f"    fix: {c.fix}")
    counts = {s: sum(1 for c in checks if c.status == s) for s in SYMBOLS}
    verdict = "some checks failed" if counts["fail"] else "ready"
    lines.append(
        f"{verdict}: {counts['ok']} ok, {counts['warn']} warning(s), {counts['fail']} failed, "
        f"{counts['skip']} skipped"
    )
    return "\n".join(lines)


def render_json(checks: Sequence[Check], secrets: Iterable[str | None] = ()) -> str:
    """A JSON list of checks with stable keys: area, name, status, message, fix, dag_id."""
    return json.dumps([c.to_json() for c in scrubbed(checks, secrets)], indent=2, ensure_ascii=False)


def scrubbed(checks: Sequence[Check], secrets: Iterable[str | None] = ()) -> list[Check]:
    """The checks with ``secrets`` and what Airflow's masker knows taken out of their messages and fixes,
    the only text that can carry a library's or a server's words; areas and names are the product's."""
    known = list(secrets)
    return [
        replace(c, message=remove_secrets(c.message, known), fix=remove_secrets(c.fix, known)) for c in checks
    ]
