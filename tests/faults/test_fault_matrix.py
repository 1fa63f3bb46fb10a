"""Every cell of the fault matrix (``tests/faults/catalogue.py``) as a DAG run on the sandbox.

Per cell: a fresh world (sandbox reset, new state and staging, the cell's connections), the cell's
faults armed, one run of the customers DAG through ``dag.test()`` with one Airflow retry per task (the
DAG's own retry policy decides whether a failure is retried). The observed outcome (the first task
that failed, the class and message of what it raised, whether Airflow tried it again; else whether
the run completed or deferred) must equal the cell's expectation. Then the test does what the
operator does (nothing, wait for Airflow's retry, clear the failed task with its downstream tasks
after the fault is gone, or let the next run come) and checks that Pipedrive holds exactly what
Workday says it must: every record, no Workday ID twice, the identity maps equal to Pipedrive.

``ML_CONNECTOR_FAULT_CELLS=short`` (the default, ``make test``) runs one or two cells per fault kind;
``all`` runs every cell. Each session writes its rows to ``.artifacts/faults/fault-matrix.md``.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from faults.catalogue import CELLS, PIPEDRIVE_TIMEOUT_S, WORKDAY_TIMEOUT_S, Cell, Outcome, selected
from sqlalchemy.engine import make_url
from support.sandbox import PipedriveApi, pipedrive_server, workday_server
from support.secrets import database_dump, file_texts, leaks
from support.sync_world import task_states

from ml_connector.sandbox.runtime import RunningSandbox
from ml_connector.staging.area import StagingArea

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / ".artifacts" / "faults" / "fault-matrix.md"
MAPPINGS = ROOT / "include" / "mappings"
ENTITY = "customers"
DAG_ID = f"workday_{ENTITY}_to_pipedrive"
TASKS = ("refresh_tokens", "validate_field_definitions", "extract", "transform", "load", "report")
TASK_FUNCTIONS = {
    "refresh_tokens": "refresh_tokens",
    "validate_field_definitions": "validate_fields",
    "extract": "extract",
    "transform": "transform",
    "load": "load",
    "report": "report",
}
# Run dates (and run ids): distinct per run, before now, after every record the sandbox seeded.
_START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
ID_FIELDS = {"organization": "Workday ID", "person": "Workday contact ID"}


# -- the world of one cell ----------------------------------------------------------------------------------
@dataclass
class CellWorld:
    sandbox: RunningSandbox
    area: StagingArea
    # every exception each task raised in this world, in order (one per failed attempt)
    raised: dict[str, list[BaseException]] = field(default_factory=lambda: defaultdict(list))
    attempts: Counter[str] = field(default_factory=Counter)
    dates: Iterator[datetime] = field(
        default_factory=lambda: (_START + timedelta(minutes=m) for m in range(1000))
    )

    def run(self, logical_date: datetime, *, skip: tuple[str, ...] = (), entity: str = ENTITY) -> Any:
        """One run of an entity's DAG for ``logical_date`` (its run id too); tasks in ``skip`` are marked
        successful instead of run: with the date of an earlier run, that is clearing the other tasks of
        that run (same run id, same staged files)."""
        from ml_connector.dag.factory import build_sync_dag

        dag = build_sync_dag(MAPPINGS / f"{entity}.yaml", task_retries=1)
        for task in dag.tasks:  # Airflow's retry comes at once, not after a minute
            task.retry_delay = timedelta(0)
            task.retry_exponential_backoff = 0
        self.raised.clear()
        self.attempts.clear()
        pattern = "|".join(skip) or None
        return dag.test(logical_date=logical_date, run_after=logical_date, mark_success_pattern=pattern)

    def disarm(self) -> None:
        workday_server(self.sandbox).control("DELETE", "/faults")
        pipedrive_server(self.sandbox).control("DELETE", "/faults")

    def summary(self, run: Any) -> dict[str, Any]:
        path = self.area.run_dir(run.dag_id, run.run_id) / "summary.json"
        return dict(self.area.read_json(path) or {})


def connections(sandbox: RunningSandbox, cell: Cell) -> tuple[str, str]:
    """The cell's Workday and Pipedrive connection URIs: the sandbox's, with short timeouts and the
    cell's auth kind and customers source."""
    wd = sandbox.config.workday
    if cell.world.workday_auth == "isu":
        host = sandbox.workday_url.partition("://")[2]
        workday = (
            f"workday://{wd.isu_username}:{wd.isu_password}@{host}/{wd.tenant}?auth_kind=isu&protocol=http"
        )
    else:
        workday = sandbox.workday_conn_uri
    workday += f"&timeout={WORKDAY_TIMEOUT_S}"
    if cell.world.customers_source != "soap":
        from urllib.parse import quote

        workday += f"&customers_source={quote(cell.world.customers_source, safe='')}"
    pipedrive = (
        sandbox.pipedrive_oauth_conn_uri
        if cell.world.pipedrive_auth == "oauth2"
        else sandbox.pipedrive_conn_uri
    )
    return workday, pipedrive + f"&timeout={PIPEDRIVE_TIMEOUT_S}"


@pytest.fixture()
def cell_world(
    airflow_db: str,
    reset_sandbox: RunningSandbox,
    fast_retries: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> Iterator[Callable[[Cell], CellWorld]]:
    import ml_connector.dag.tasks as tasks

    caplog.set_level(logging.DEBUG)
    worlds: list[CellWorld] = []

    def make(cell: Cell) -> CellWorld:
        workday, pipedrive = connections(reset_sandbox, cell)
        monkeypatch.setenv("AIRFLOW_CONN_WORKDAY_DEFAULT", workday)
        monkeypatch.setenv("AIRFLOW_CONN_PIPEDRIVE_DEFAULT", pipedrive)
        monkeypatch.setenv("ML_CONNECTOR_FERNET_KEYS", Fernet.generate_key().decode())
        monkeypatch.setenv("ML_CONNECTOR_STATE_DIR", str(tmp_path / "state"))
        monkeypatch.setenv("ML_CONNECTOR_STAGING_ROOT", f"file://{tmp_path / 'staging'}")
        world = CellWorld(reset_sandbox, StagingArea(f"file://{tmp_path / 'staging'}"))
        for task_id, name in TASK_FUNCTIONS.items():
            monkeypatch.setattr(tasks, name, _watched(task_id, getattr(tasks, name), world))
        worlds.append(world)
        return world

    yield make
    # Before the next cell resets the sandbox (and forgets the tokens it issued): what this cell wrote.
    SECRETS.update(reset_sandbox.secrets_in_play())
    texts = [(f"cell {n}: {name}", text) for n, (name, text) in enumerate(file_texts(tmp_path))]
    out, err = capfd.readouterr()  # the task logs: Airflow's task runner prints them
    sys.stdout.write(out)  # captured again, for the report of a failing cell
    sys.stderr.write(err)
    texts += [("the task logs", out + err), ("the log records", caplog.text)]
    texts += [
        (f"a {type(e).__name__} message", str(e))
        for w in worlds
        for raised in w.raised.values()
        for e in raised
    ]
    FOUND.update(leaks(texts, reset_sandbox.secrets_in_play()))
    SCANNED.append(len(texts))


def _watched(task_id: str, fn: Callable[..., Any], world: CellWorld) -> Callable[..., Any]:
    """The task's function, counting its attempts and keeping what it raised."""

    def watched(*args: Any, **kwargs: Any) -> Any:
        world.attempts[task_id] += 1
        try:
            return fn(*args, **kwargs)
        except BaseException as exc:
            world.raised[task_id].append(exc)
            raise

    return watched


# -- what happened --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Observed:
    outcome: Outcome
    exception: BaseException | None
    states: dict[str, str]

    def __str__(self) -> str:
        return str(self.outcome)


def observe(world: CellWorld, run: Any) -> Observed:
    """The first task (in DAG order) that raised, what it raised and whether Airflow ran it again;
    otherwise ``defers`` when the load deferred work for the budget, ``completes`` when all succeeded."""
    states = task_states(run)
    for task in TASKS:
        if world.raised.get(task):
            exc = world.raised[task][0]
            outcome = Outcome("fails", task, type(exc).__name__, world.attempts[task] > 1)
            return Observed(outcome, exc, states)
    if set(states.values()) != {"success"}:
        return Observed(Outcome("fails", None, f"no exception, states {states}"), None, states)
    summary = world.summary(run)
    deferred = summary.get("deferred_run") or summary.get("budget_exhausted")
    return Observed(Outcome("defers" if deferred else "completes"), None, states)


def matches(expected: Outcome, observed: Observed) -> bool:
    got = observed.outcome
    if (expected.kind, expected.task, expected.error, expected.retried) != (
        got.kind,
        got.task,
        got.error,
        got.retried if expected.kind == "fails" else None,
    ):
        return False
    return expected.message is None or expected.message in str(observed.exception)


# -- what Pipedrive must hold -------------------------------------------------------------------------------
def divergences(world: CellWorld, cell: Cell) -> list[str]:
    """Where Pipedrive differs from what it must hold once both DAGs have synced (``[]``: nowhere): the
    independent model of ``tests/support/model.py`` (every record, its values and links, no Workday ID
    twice, nothing extra), and each identity map equal to what Pipedrive holds."""
    from support import model

    problems = model.divergences(world.sandbox, model.expected(world.sandbox))
    if cell.world.customers_source == "rest":
        # Workday's REST customers carry no address or status (README, customers_source): the values the
        # model takes from SOAP cannot come this way; every record, link and key is still compared.
        problems = [p for p in problems if not p.startswith("wrong value: organization")]
    with PipedriveApi(world.sandbox) as api:
        for kind, plural in (("organization", "organizations"), ("person", "persons")):
            key_field = api.field_code(kind, ID_FIELDS[kind])
            held: dict[str, list[int]] = defaultdict(list)
            for record in api.records(plural):
                held[str(record["custom_fields"].get(key_field))].append(int(record["id"]))
            identity_path = world.area.state_path(plural, "identity.parquet")
            identity = {r["key"]: r["pipedrive_id"] for r in world.area.read_table(identity_path).to_pylist()}
            live = {key: ids[0] for key, ids in held.items() if len(ids) == 1}
            wrong = {
                k: (identity.get(k), live.get(k))
                for k in identity.keys() | live.keys()
                if identity.get(k) != live.get(k)
            }
            if wrong:
                problems.append(f"{plural}: identity map differs from Pipedrive (map, Pipedrive): {wrong}")
    return problems


# -- the table ------------------------------------------------------------------------------------------------
ROWS: dict[int, tuple[str, str, str, str, str, str]] = {}


def write_table() -> None:
    header = [
        "# Fault matrix, as observed",
        "",
        f"Written by `tests/faults/test_fault_matrix.py` at {datetime.now(UTC).isoformat(timespec='seconds')}; "
        f"{len(ROWS)} of {len(CELLS)} cells ran.",
        "",
        "| # | API | fault | phase | expected outcome | observed | pass |",
        "|---|---|---|---|---|---|---|",
    ]
    lines = [f"| {n} | " + " | ".join(row) + " |" for n, row in sorted(ROWS.items())]
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    TABLE.write_text("\n".join(header + lines) + "\n")


# -- the test -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", selected(), ids=lambda c: f"{CELLS.index(c) + 1:02d}-{c.id}")
def test_fault_cell(cell: Cell, cell_world: Callable[[Cell], CellWorld]) -> None:
    number = CELLS.index(cell) + 1
    world = cell_world(cell)
    if cell.mutate:
        workday_server(world.sandbox).mutate(**cell.mutate)
    for fault in cell.faults:
        server = (
            pipedrive_server(world.sandbox) if fault.server == "pipedrive" else workday_server(world.sandbox)
        )
        server.arm(**fault.spec())
    expected = str(cell.expected)
    row = [cell.api, cell.fault, cell.phase, expected + (f"; {cell.known_bug}" if cell.known_bug else "")]
    ROWS[number] = (*row, "(did not finish)", "no")
    write_table()

    started = time.monotonic()
    first_date = next(world.dates)
    run = world.run(first_date)
    observed = observe(world, run)
    message = f": {str(observed.exception)[:300]}" if observed.exception is not None else ""
    print(
        f"cell {number} ({time.monotonic() - started:.1f}s): expected {expected}; observed {observed}{message}"
    )
    ok = matches(cell.expected, observed)
    bug = cell.known_bug
    if bug is not None and bug.observed is not None:
        fixed = ok
        ok = matches(bug.observed, observed)
        ROWS[number] = (*row, str(observed), "known bug" if ok else ("**fixed?**" if fixed else "**no**"))
        write_table()
        assert not fixed, f"cell {number} now does what is expected ({expected}): delete its known_bug"
        assert ok, f"known bug: {bug.observed}\nobserved: {observed}{message}\ntask states: {observed.states}"
    else:
        ROWS[number] = (*row, str(observed), "yes" if ok else "**no**")
        write_table()
        assert ok, f"expected: {expected}\nobserved: {observed}{message}\ntask states: {observed.states}"

    # what the operator does next
    step, failed_task = cell.next, cell.expected.task
    if bug is not None and bug.observed is not None and bug.next is not None:
        step, failed_task = bug.next, bug.observed.task
    if step == "airflow retry":
        assert set(task_states(run).values()) == {"success"}, "Airflow's retry did not complete the run"
    elif step == "clear":
        world.disarm()
        assert failed_task is not None
        again = world.run(first_date, skip=TASKS[: TASKS.index(failed_task)])
        assert set(task_states(again).values()) == {"success"}, task_states(again)
        assert again.run_id == run.run_id
    elif step == "next run":
        world.disarm()
        again = world.run(next(world.dates))
        assert set(task_states(again).values()) == {"success"}, task_states(again)
    else:
        assert set(task_states(run).values()) == {"success"}, task_states(run)
    # the other DAG's sync, so that the model (both DAGs synced) applies
    world.disarm()
    other = world.run(next(world.dates), entity="suppliers")
    assert set(task_states(other).values()) == {"success"}, task_states(other)

    problems = divergences(world, cell)
    if bug is not None and bug.diverges is not None:
        unknown = [p for p in problems if not re.match(bug.diverges, p)]
        verdict = "known bug" if problems and not unknown else "**fixed?**" if not problems else "**no**"
        ROWS[number] = (*row, f"{observed}; then Pipedrive differs from the model", verdict)
        write_table()
        assert problems, f"cell {number}: Pipedrive now equals the model: delete its known_bug"
        assert not unknown, "\n".join(unknown)
        return
    if problems:
        ROWS[number] = (*row, f"{observed}; then Pipedrive differs from the model", "**no**")
        write_table()
    assert not problems, "\n".join(problems)


# -- secrets -----------------------------------------------------------------------------------------------------
SECRETS: set[str] = set()  # every credential and token in play during the cells
FOUND: set[str] = set()  # where one of them was found
SCANNED: list[int] = []  # texts scanned per cell


def test_no_secret_is_in_anything_the_fault_matrix_wrote() -> None:
    """After the cells: their staging, state, plans, ledger and token vault, the task logs, every error
    message and the metadata database hold none of the credentials or tokens issued during the cells."""
    assert SCANNED and min(SCANNED) > 10  # the cells ran and left their files here
    assert len(SECRETS) > 6  # client secrets, refresh tokens, and access tokens issued on both sides
    url = make_url(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    if url.drivername.startswith("postgresql"):
        dump = database_dump(url.database or "")
    else:  # SQLite on a machine without PostgreSQL: the file itself
        dump = Path(url.database or "").read_bytes().decode("utf-8", errors="replace")
    assert "dag_run" in dump
    assert FOUND | leaks([("the metadata database", dump)], SECRETS) == set()
