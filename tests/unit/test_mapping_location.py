"""Where a DAG file's mapping is looked for, in order, and the error when it is nowhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_connector.dag.factory import PACKAGED_MAPPINGS, MappingNotFound, mapping_candidates, mapping_path


def test_the_order_is_setting_then_project_include_then_packaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ML_CONNECTOR_MAPPINGS_DIR", str(tmp_path / "own"))
    dag_file = tmp_path / "project" / "dags" / "sync" / "workday_customers_to_pipedrive.py"
    assert mapping_candidates("customers", dag_file) == [
        tmp_path / "own" / "customers.yaml",
        tmp_path / "project" / "dags" / "include" / "mappings" / "customers.yaml",
        tmp_path / "project" / "include" / "mappings" / "customers.yaml",
        PACKAGED_MAPPINGS / "customers.yaml",
    ]


def test_the_packaged_defaults_are_found_without_any_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ML_CONNECTOR_MAPPINGS_DIR", raising=False)
    assert mapping_path("suppliers") == PACKAGED_MAPPINGS / "suppliers.yaml"
    assert mapping_path("suppliers").is_file()


def test_a_missing_mapping_names_every_place_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_CONNECTOR_MAPPINGS_DIR", str(tmp_path / "own"))
    with pytest.raises(MappingNotFound) as info:
        mapping_path("vendors", tmp_path / "dags" / "x.py")
    message = str(info.value)
    for place in mapping_candidates("vendors", tmp_path / "dags" / "x.py"):
        assert str(place) in message
    assert "ML_CONNECTOR_MAPPINGS_DIR" in message
