"""The DAG files as Airflow parses them: no import errors, the promised shape, and clear errors for a
bad mapping or a too-frequent schedule (found at import, before anything runs)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import CronDataIntervalTimetable

ROOT = Path(__file__).resolve().parents[2]
DAG_IDS = ("workday_customers_to_pipedrive", "workday_suppliers_to_pipedrive")
CHAIN = ["refresh_tokens", "validate_field_definitions", "extract", "transform", "load", "report"]


@pytest.fixture(scope="module")
def bag() -> DagBag:
    return DagBag(dag_folder=str(ROOT / "dags"))


def test_dag_files_import_without_errors(bag: DagBag) -> None:
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == set(DAG_IDS)


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_dag_shape(bag: DagBag, dag_id: str) -> None:
    dag = bag.dags[dag_id]
    assert dag is not None
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert {"mode", "dry_run", "updated_from", "updated_to"} <= set(dag.params)
    assert dag.params["mode"] == "incremental"
    assert dag.doc_md and "backfill" in dag.doc_md
    assert [t.task_id for t in _in_order(dag)] == CHAIN
    for task in dag.tasks:
        assert task.retries >= 1 and task.retry_exponential_backoff
        assert task.retry_policy is not None
    # no pool to create by default: a task naming a missing pool would never be scheduled
    assert {t.pool for t in dag.tasks} == {"default_pool"}


def _in_order(dag):  # type: ignore[no-untyped-def]
    task = next(t for t in dag.tasks if not t.upstream_task_ids)
    ordered = [task]
    while task.downstream_task_ids:
        (next_id,) = task.downstream_task_ids
        task = dag.get_task(next_id)
        ordered.append(task)
    return ordered


@pytest.mark.parametrize(
    ("error", "action"),
    [
        ("ml_connector.credentials.keys.KeyConfigError", "fail"),
        ("ml_connector.credentials.vault.VaultError", "fail"),
        ("ml_connector.http.errors.CredentialRejected", "fail"),
        ("ml_connector.http.errors.EdgeBlocked", "fail"),
        ("ml_connector.fields.FieldDefinitionError", "fail"),
        ("ml_connector.mapping.MappingError", "fail"),
        ("ml_connector.dag.factory.MappingNotFound", "fail"),
        ("ml_connector.http.errors.TransientError", "default"),
        ("ml_connector.load.lease.LeaseBusy", "default"),
        ("ml_connector.load.lease.LeaseLost", "default"),
        ("ml_connector.load.lease.LeaseUnsupported", "fail"),
    ],
)
def test_the_retry_policy_fails_at_once_on_what_a_person_must_fix(error: str, action: str) -> None:
    from airflow.sdk.module_loading import import_string

    from ml_connector.dag.factory import RETRY_POLICY

    cls = import_string(error)
    decision = RETRY_POLICY.evaluate(cls.__new__(cls), try_number=1, max_tries=4)
    assert decision.action.value == action


def test_default_schedules(bag: DagBag) -> None:
    customers = bag.dags["workday_customers_to_pipedrive"]
    suppliers = bag.dags["workday_suppliers_to_pipedrive"]
    assert customers.timetable.expression == "0 * * * *"
    assert suppliers.timetable.expression == "0 2 * * *"


def _bag_with(tmp_path: Path, edit: dict[str, object]) -> DagBag:
    """A copy of the customers DAG whose mapping file has ``edit`` applied at the top level."""
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    data = yaml.safe_load((ROOT / "include" / "mappings" / "customers.yaml").read_text())
    data.update(edit)
    (mappings / "customers.yaml").write_text(yaml.safe_dump(data))
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(ROOT / "dags" / "workday_customers_to_pipedrive.py", dags)
    return DagBag(dag_folder=str(dags))


def test_pools_are_an_opt_in_setting_of_the_mapping_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ML_CONNECTOR_MAPPINGS_DIR", str(tmp_path / "mappings"))
    bag = _bag_with(tmp_path, {"workday_pool": "workday_api", "pipedrive_pool": "pipedrive_api"})
    assert bag.import_errors == {}
    pools = {t.task_id: t.pool for t in bag.dags["workday_customers_to_pipedrive"].tasks}
    assert pools == {
        "refresh_tokens": "default_pool",
        "validate_field_definitions": "pipedrive_api",
        "extract": "workday_api",
        "transform": "default_pool",
        "load": "pipedrive_api",
        "report": "default_pool",
    }


def test_a_schedule_more_often_than_every_five_minutes_fails_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ML_CONNECTOR_MAPPINGS_DIR", str(tmp_path / "mappings"))
    bag = _bag_with(tmp_path, {"schedule": "*/2 * * * *"})
    (error,) = bag.import_errors.values()
    assert "schedule" in error and "5 minutes" in error


def test_a_bad_mapping_fails_import_naming_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_CONNECTOR_MAPPINGS_DIR", str(tmp_path / "mappings"))
    bag = _bag_with(tmp_path, {"overlap_minutes": "ten"})
    (error,) = bag.import_errors.values()
    assert "overlap_minutes" in error and "customers.yaml" in error
