"""``ml-connector doctor``: is this deployment ready to sync? One line per check, with the fix.

It checks what the DAGs will use (their mapping files, the ``workday_default`` and ``pipedrive_default``
connections, the staging root, the state directory and the Fernet key) and estimates the initial sync.
It is read-only: Workday and Pipedrive get only reads, staging and state only a probe file that is deleted
at once. The one exception is the token vault: the forced token refresh stores the new token state there,
exactly as the ``refresh_tokens`` task does, since a rotated refresh token must never be lost.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ml_connector.http.retry import RetryPolicy
from ml_connector.onboarding.checks import (
    Check,
    describe,
    fail,
    failed,
    ok,
    render_json,
    render_text,
    skip,
    warn,
)
from ml_connector.vocabulary import ENTITIES, Entity

if TYPE_CHECKING:
    from ml_connector.mapping import SyncMapping

PROG = "ml-connector doctor"
FORMATS = ("text", "json")
# The connections the DAGs use (RunContext's defaults): doctor checks exactly those.
WORKDAY_CONN_ID = "workday_default"
PIPEDRIVE_CONN_ID = "pipedrive_default"
# Quick answers: a check that fails after a few seconds says more than one that retries for minutes.
# Records each mapping's coverage is checked on: the first pages, enough to see the tenant's habits.
COVERAGE_SAMPLE = 200
POLICY = RetryPolicy(max_attempts=3, max_total_s=30.0, base_delay_s=0.5, max_delay_s=5.0, rng=random.Random())


def dag_id_of(entity: Entity) -> str:
    return f"workday_{entity}_to_pipedrive"


DAG_IDS = {dag_id_of(entity): entity for entity in ENTITIES}


def add_doctor_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``doctor`` on the ``ml-connector`` parser."""
    doctor = sub.add_parser(
        "doctor",
        help="check connections, mappings, storage and keys before the first sync; estimate it",
        description=(
            "Check everything the sync DAGs need, one line per check with the fix: the Workday and Pipedrive "
            "connections (token refresh, operations, limits against plan and seats, field definitions), "
            "the staging root and state directory, the Fernet key; and estimate the initial sync. "
            "Read-only; exits 1 when a check fails."
        ),
    )
    doctor.add_argument(
        "--dag", dest="dag_id", default=None, metavar="DAG_ID", help=f"only this DAG: {', '.join(DAG_IDS)}"
    )
    doctor.add_argument("--format", choices=FORMATS, default="text", help="text (default) or json")


def run_doctor(args: argparse.Namespace) -> int:
    """Run every check; 0 when none failed, 1 when one did, 2 for an unknown ``--dag``."""
    if args.dag_id is not None and args.dag_id not in DAG_IDS:
        print(f"{PROG}: unknown DAG '{args.dag_id}'; the sync DAGs are {', '.join(DAG_IDS)}", file=sys.stderr)
        return 2
    entities = [DAG_IDS[args.dag_id]] if args.dag_id else list(ENTITIES)
    checks, secrets = diagnose(entities)
    text = render_json(checks, secrets) if args.format == "json" else render_text(checks, secrets)
    sys.stdout.write(text + "\n")
    return 1 if failed(checks) else 0


def diagnose(entities: Iterable[Entity]) -> tuple[list[Check], set[str]]:
    """Every check for the DAGs of ``entities``, in the order a person fixes them; and the secrets in
    play, for the output to be scrubbed of."""
    from ml_connector.credentials.vault import default_state_dir
    from ml_connector.onboarding import doctor_storage as storage
    from ml_connector.onboarding.doctor_estimate import estimate_checks
    from ml_connector.onboarding.doctor_pipedrive import pipedrive_checks
    from ml_connector.onboarding.doctor_workday import workday_checks
    from ml_connector.staging.area import StagingArea, default_root

    selected = list(entities)
    checks, mappings = mapping_checks(selected)
    root = default_root()
    checks += storage.staging_checks(root)
    checks += storage.state_checks(default_state_dir())
    checks += storage.key_checks([WORKDAY_CONN_ID, PIPEDRIVE_CONN_ID])
    overlap = min((m.overlap_minutes for m in mappings.values()), default=10)
    workday = workday_checks(WORKDAY_CONN_ID, selected, overlap, POLICY)
    checks += workday.checks
    pipedrive = pipedrive_checks(PIPEDRIVE_CONN_ID, mappings, StagingArea(root), POLICY)
    checks += pipedrive.checks
    if any(c.name == "connection" and c.status == "ok" for c in workday.checks):
        checks += mapping_coverage_checks(mappings)
    dags = {dag_id_of(entity): entity for entity in selected}
    checks += estimate_checks(workday.totals, dags, pipedrive.daily_limit, pipedrive.reserve)
    return checks, secrets_in_play()


def mapping_checks(entities: list[Entity]) -> tuple[list[Check], dict[str, SyncMapping]]:
    """Each DAG's mapping file, found where its DAG file finds it, loaded and validated."""
    from ml_connector.dag.factory import mapping_path
    from ml_connector.mapping import load_mapping

    checks: list[Check] = []
    mappings: dict[str, SyncMapping] = {}
    for entity in entities:
        dag_id = dag_id_of(entity)
        try:
            path = mapping_path(entity, dag_file())
            mappings[dag_id] = load_mapping(path)
        except Exception as exc:
            checks.append(
                fail(
                    "mapping",
                    "mapping file",
                    describe(exc),
                    "fix the file as the message says",
                    dag_id=dag_id,
                )
            )
            continue
        checks.append(ok("mapping", "mapping file", f"{path} loads", dag_id=dag_id))
    return checks, mappings


def dag_file() -> Path:
    """Where a DAG file sits: Airflow's DAG folder (the mapping search starts beside it)."""
    from airflow.configuration import conf

    return Path(conf.get("core", "dags_folder")) / "workday_sync.py"


def mapping_coverage_checks(mappings: dict[str, SyncMapping]) -> list[Check]:
    """Each mapping against the first :data:`COVERAGE_SAMPLE` records of its entity: a warning for every
    organization source no sampled record carries (a worktag type the tenant names otherwise, say) and
    for enum values the field would reject (:func:`ml_connector.onboarding.sample.mapping_coverage`).
    Contacts are not sampled here: Workday cannot filter them, and ``discover`` reads them all."""
    from ml_connector.hooks.workday import WorkdayHook
    from ml_connector.onboarding.sample import mapping_coverage, read_sample

    checks: list[Check] = []
    hook = WorkdayHook(WORKDAY_CONN_ID, retry_policy=POLICY)
    try:
        for dag_id, mapping in mappings.items():
            try:
                sample = read_sample(hook, mapping.entity, COVERAGE_SAMPLE, contacts=False)
            except Exception as exc:
                checks.append(skip("mapping", "coverage", f"no sample read: {describe(exc)}", dag_id=dag_id))
                continue
            fix = f"run `ml-connector discover --entity {mapping.entity}` and point the field at a source the tenant fills"
            found = [
                warn("mapping", "coverage", str(w), fix, dag_id=dag_id)
                for w in mapping_coverage(mapping, sample)
            ]
            checks += found or [
                ok(
                    "mapping",
                    "coverage",
                    f"every organization field has values in the first {len(sample.records)} {mapping.entity}",
                    dag_id=dag_id,
                )
            ]
    finally:
        hook.close()
    return checks


def secrets_in_play() -> set[str]:
    """Every credential doctor may have touched: the connections' and what the vault holds for them."""
    found: set[str] = set()
    for conn_id in (WORKDAY_CONN_ID, PIPEDRIVE_CONN_ID):
        try:
            from airflow.sdk import BaseHook

            conn = BaseHook.get_connection(conn_id)
        except Exception:
            continue
        found.add(conn.password or "")
        found.update(str(v) for k, v in (conn.extra_dejson or {}).items() if "token" in k or "secret" in k)
        try:
            from ml_connector.credentials.vault import TokenVault

            state = TokenVault.from_environment().read(conn_id) or {}
        except Exception:
            continue
        found.update(str(state.get(k) or "") for k in ("refresh_token", "access_token"))
    return {s for s in found if s}
