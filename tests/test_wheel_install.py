"""The package as users install it: the built wheel (not editable) in a fresh virtual environment, and the
DAG files copied into a DAG folder outside the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DAG_FILES = ("workday_customers_to_pipedrive.py", "workday_suppliers_to_pipedrive.py")
PARSE = """
import json, os
from airflow.dag_processing.dagbag import DagBag
import ml_connector
bag = DagBag(dag_folder=os.environ["DAG_FOLDER"])
print(json.dumps({
    "package": ml_connector.__file__,
    "dags": sorted(bag.dag_ids),
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "docs": {d: bag.dags[d].doc_md for d in bag.dag_ids},
}))
"""


@pytest.fixture(scope="module")
def wheel_python(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv holding only the built wheel; the pinned dependencies come from the project's venv,
    added after the venv's own site-packages, so the wheel (not the checkout) is what gets imported."""
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (work / "dist").glob("ml_connector-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )
    (site / "zz_project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    yield python


def parse(python: Path, dag_folder: Path, tmp_path: Path, **env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__CORE__", "ML_CONNECTOR_"))}
    result = subprocess.run(
        [str(python), "-c", PARSE],
        env={**clean, "AIRFLOW_HOME": str(tmp_path / "home"), "DAG_FOLDER": str(dag_folder), **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def project(tmp_path: Path, *, include: bool) -> Path:
    """An Airflow project outside the repository: ``dags/`` with the two DAG files (in a subfolder, as
    people organise them), and ``include/mappings/`` beside it when asked."""
    dags = tmp_path / "project" / "dags" / "ml_connector"
    dags.mkdir(parents=True)
    for name in DAG_FILES:
        shutil.copy(ROOT / "dags" / name, dags)
    if include:
        mappings = tmp_path / "project" / "include" / "mappings"
        mappings.mkdir(parents=True)
        for entity in ("customers", "suppliers"):
            text = (ROOT / "include" / "mappings" / f"{entity}.yaml").read_text()
            (mappings / f"{entity}.yaml").write_text(text.replace("retention_days: 14", "retention_days: 3"))
    return tmp_path / "project" / "dags"


def test_the_wheel_carries_the_default_mappings_and_the_dags_import_from_it(
    wheel_python: Path, tmp_path: Path
) -> None:
    got = parse(wheel_python, project(tmp_path, include=False), tmp_path)
    assert got["errors"] == {}
    assert got["dags"] == ["workday_customers_to_pipedrive", "workday_suppliers_to_pipedrive"]
    assert str(ROOT) not in str(got["package"]) and "site-packages" in str(got["package"])
    docs = got["docs"]
    assert isinstance(docs, dict)
    assert "site-packages/ml_connector/mappings/customers.yaml" in docs["workday_customers_to_pipedrive"]


def test_include_mappings_beside_the_dag_folder_win_over_the_defaults(
    wheel_python: Path, tmp_path: Path
) -> None:
    dags = project(tmp_path, include=True)
    docs = parse(wheel_python, dags, tmp_path)["docs"]
    assert isinstance(docs, dict)
    assert f"{tmp_path}/project/include/mappings/suppliers.yaml" in docs["workday_suppliers_to_pipedrive"]


def test_the_mappings_dir_setting_wins_over_both(wheel_python: Path, tmp_path: Path) -> None:
    dags = project(tmp_path, include=True)
    own = tmp_path / "own"
    own.mkdir()
    shutil.copy(ROOT / "include" / "mappings" / "customers.yaml", own)
    got = parse(wheel_python, dags, tmp_path, ML_CONNECTOR_MAPPINGS_DIR=str(own))
    docs = got["docs"]
    assert isinstance(docs, dict) and got["errors"] == {}
    assert f"{own}/customers.yaml" in docs["workday_customers_to_pipedrive"]
    # the folder lacks suppliers.yaml: the next place is used, not an error
    assert f"{tmp_path}/project/include/mappings/suppliers.yaml" in docs["workday_suppliers_to_pipedrive"]
