"""What a person is told, and when: one :class:`Alert` per cause per run, with secret-free text.

A failed task becomes an alert in the task's ``on_failure_callback`` (:func:`failure_alert`): a rejected
credential and an incomplete run get their own subject, anything else says which task failed. What the
``report`` task sees in the run's figures (new conflicts, a deferral, the day's token use) becomes alerts
through :func:`run_alerts`. Both read only ids, counts and the error's message (which carries the fix),
and every text goes through :func:`~ml_connector.scrub.scrub`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ml_connector.alerts.settings import DEFAULT_TOKEN_SHARE, AlertSettings
from ml_connector.errors import Remedy, remedy_of
from ml_connector.scrub import scrub

Cause = Literal[
    "task_failed", "credential_rejected", "run_incomplete", "new_conflicts", "budget_deferred", "token_share"
]
Level = Literal["error", "warning"]
PREFIX = "[ml-connector]"
MAX_KEYS = 10  # conflict keys listed in an alert; the ledger has them all


@dataclass(frozen=True)
class Alert:
    """One message to a person: ``subject`` says what happened, ``body`` what to do."""

    cause: Cause
    subject: str
    body: str
    level: Level = "error"


@dataclass(frozen=True)
class RunFigures:
    """What the ``report`` task knows about its run, for :func:`run_alerts`.

    ``summary`` is ``LoadSummary.to_json()``; ``new_conflict_keys`` the conflict keys of this run that were
    not conflicts in the previous run; ``tokens_today_*`` the day's Pipedrive token use before and after
    this run's spend; ``daily_budget`` the company's daily token budget (None: unknown, no token alert).
    """

    dag_id: str
    run_id: str
    entity: str
    summary: Mapping[str, Any]
    new_conflict_keys: list[str] = field(default_factory=list)
    tokens_today_before: int = 0
    tokens_today_after: int = 0
    daily_budget: int | None = None
    link: str | None = None


def failure_alert(context: Mapping[str, Any]) -> Alert:
    """The alert of a task's final failure, from the Airflow context of its ``on_failure_callback``."""
    ti = context.get("ti") or context.get("task_instance")
    dag_id = str(getattr(ti, "dag_id", None) or _dag_id(context))
    task_id = str(getattr(ti, "task_id", None) or "?")
    run_id = str(getattr(ti, "run_id", None) or context.get("run_id") or "?")
    error = context.get("exception")
    message = scrub(_message(error))
    where = f"Run {run_id} of {dag_id}, task {task_id}."
    link = _link(ti)
    rejected = _credential_rejected(error)
    if rejected is not None:
        conn = _connection_of(rejected)
        message = scrub(_message(rejected))  # the rejection carries the fix, not what wrapped it
        subject = f"{PREFIX} {dag_id}: credential rejected on connection '{conn}'"
        body = (
            f"{where}\nThe credential of Airflow connection '{conn}' was rejected (or its token refresh "
            f"failed); no further call was made. Issue a new credential and store it in that connection, "
            f"then clear the failed task.\n\nWhat the system said and how to fix it:\n{message}"
        )
        return Alert("credential_rejected", subject, _with_link(body, link))
    if _run_incomplete(error):
        subject = f"{PREFIX} {dag_id}: run incomplete (records failed to write or too many were rejected)"
        body = (
            f"{where}\nEverything that could be written was written, but the run is not complete.\n\n"
            f"{message}\n\nFailed records are carried over and written first by the next run; fix the "
            "rejected records in Workday (the reasons are in the ledger and the run's rejected file)."
        )
        return Alert("run_incomplete", subject, _with_link(body, link))
    subject = f"{PREFIX} {dag_id}: task {task_id} failed"
    body = f"{where}\n{_remedy_text(error)}\n\nError:\n{message}"
    return Alert("task_failed", subject, _with_link(body, link))


def run_alerts(figures: RunFigures, settings: AlertSettings | None = None) -> list[Alert]:
    """The alerts the ``report`` task raises for its run: at most one each for new conflicts, a budget
    deferral and the day's token use crossing ``settings.token_share`` of the budget."""
    share = settings.token_share if settings is not None else DEFAULT_TOKEN_SHARE
    alerts = [
        _conflicts(figures),
        _deferred(figures),
        _token_share(figures, share),
    ]
    return [alert for alert in alerts if alert is not None]


def _conflicts(figures: RunFigures) -> Alert | None:
    keys = sorted(set(figures.new_conflict_keys))
    if not keys:
        return None
    total = sum(
        int((figures.summary.get(kind) or {}).get("conflicts", 0)) for kind in ("organizations", "persons")
    )
    listed = ", ".join(keys[:MAX_KEYS]) + (
        f" and {len(keys) - MAX_KEYS} more" if len(keys) > MAX_KEYS else ""
    )
    subject = f"{PREFIX} {figures.dag_id}: {len(keys)} new conflict(s) or duplicate(s)"
    body = (
        f"Run {figures.run_id} of {figures.dag_id} ({figures.entity}) found {len(keys)} Workday record(s) that "
        f"were not conflicts in the previous run: {listed}. Conflicts in this run: {total}.\n"
        "These records were not written. Look each key up in the ledger (action=conflict, with the reason); "
        "remove the duplicate Pipedrive records or run mode=reconcile with repair_duplicates to merge them."
    )
    return Alert("new_conflicts", scrub(subject), _with_link(scrub(body), figures.link), "warning")


def _deferred(figures: RunFigures) -> Alert | None:
    summary = figures.summary
    if not (summary.get("budget_exhausted") or summary.get("deferred_run")):
        return None
    if summary.get("deferred_run"):
        what = "the whole run was deferred before anything was written"
    else:
        deferred = sum(
            int((summary.get(kind) or {}).get("deferred", 0)) for kind in ("organizations", "persons")
        )
        what = f"{deferred} record(s) were deferred"
    subject = f"{PREFIX} {figures.dag_id}: Pipedrive daily budget reserve reached, work deferred"
    body = (
        f"Run {figures.run_id} of {figures.dag_id} ({figures.entity}): the Pipedrive daily token budget "
        f"reached its reserve and {what}. The next run picks the rest up after the daily reset; if this "
        "happens often, spread the schedules or raise the Pipedrive plan's budget."
    )
    return Alert("budget_deferred", subject, _with_link(body, figures.link), "warning")


def _token_share(figures: RunFigures, share: float) -> Alert | None:
    budget = figures.daily_budget
    if not budget or budget <= 0:
        return None
    threshold = share * budget
    if not figures.tokens_today_before < threshold <= figures.tokens_today_after:
        return None  # only the run whose spend crossed it alerts, once a day
    used = figures.tokens_today_after / budget
    subject = f"{PREFIX} {figures.dag_id}: Pipedrive token use today passed {share:.0%} of the daily budget"
    body = (
        f"Run {figures.run_id} of {figures.dag_id} ({figures.entity}) brought today's Pipedrive token use to "
        f"{figures.tokens_today_after} of {budget} ({used:.0%}; alert threshold token_share {share:g}). "
        "Work is deferred once the reserve is reached; check the day's usage in the ledger before "
        "triggering more runs."
    )
    return Alert("token_share", subject, _with_link(body, figures.link), "warning")


def _credential_rejected(error: object) -> BaseException | None:
    """The CredentialRejected in ``error``'s chain (a wrapped refresh failure counts too), or None."""
    from ml_connector.http.errors import CredentialRejected

    seen: set[int] = set()
    current = error if isinstance(error, BaseException) else None
    while current is not None and id(current) not in seen:
        if isinstance(current, CredentialRejected):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _run_incomplete(error: object) -> bool:
    from ml_connector.audit import RunIncomplete  # the worker has it loaded; parse time does not need it

    return isinstance(error, RunIncomplete)


def _connection_of(error: BaseException) -> str:
    conn = getattr(error, "conn_id", None)
    if isinstance(conn, str) and conn:
        return conn
    found = re.search(r"connection '([^']+)'", str(error))
    return found.group(1) if found else "unknown (see the task log)"


def _message(error: object) -> str:
    if error is None:
        return "no error was passed to the callback; see the task log"
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return str(error)


def _remedy_text(error: object) -> str:
    if isinstance(error, BaseException) and remedy_of(error) is Remedy.PERSON:
        return "This needs a person: retrying cannot fix it. Fix what the error names, then clear the task."
    return (
        "The task failed after its retries. The next scheduled run tries again; if the error repeats, "
        "fix what it names (see the task log) and clear the task."
    )


def _dag_id(context: Mapping[str, Any]) -> str:
    dag = context.get("dag")
    return str(getattr(dag, "dag_id", None) or "?")


def _link(ti: object) -> str | None:
    try:
        url = getattr(ti, "log_url", None)
    except Exception:  # a task instance without a configured base URL
        return None
    return url if isinstance(url, str) and url else None


def _with_link(body: str, link: str | None) -> str:
    """The link is Airflow's own URL of the run or task (ids only), so it is not scrubbed: scrubbing would
    cut its query string."""
    return f"{body}\n\nRun: {link}" if link else body
