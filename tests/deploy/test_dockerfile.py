"""The Dockerfile: the official Airflow image at the pinned version, this package installed with the
committed constraints as the airflow user, and a build context that holds what the build needs and no
secret. Docker does not run here, so its structure is linted and its build context is rebuilt."""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
BASE_IMAGE = "apache/airflow:3.3.2-python3.11"
BASE_IMAGE_USER = "airflow"  # the official image's default USER


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction: continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n(?:\s*#.*\n)*", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            found.append((keyword.upper(), " ".join(args.split())))
    return found


def copies(text: str) -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY, options left out."""
    found = []
    for keyword, args in instructions(text):
        if keyword == "COPY":
            words = [word for word in shlex.split(args) if not word.startswith("--")]
            found.append((words[:-1], words[-1]))
    return found


def lint(text: str) -> list[str]:
    """Every way the Dockerfile misses the requirements; empty when it meets them."""
    found: list[str] = []
    steps = instructions(text)
    bases = [args for keyword, args in steps if keyword == "FROM"]
    if bases != [BASE_IMAGE]:
        found.append(f"FROM is {bases}, not the one image {BASE_IMAGE}")
    if "_PIP_ADDITIONAL_REQUIREMENTS" in text:
        found.append(
            "_PIP_ADDITIONAL_REQUIREMENTS: the package belongs in the image, not in a container start"
        )
    user, workdir, copied, installs = BASE_IMAGE_USER, "/", set(), 0
    for keyword, args in steps:
        if keyword == "USER":
            user = args.split(":")[0]
        elif keyword == "WORKDIR":
            workdir = args if args.startswith("/") else f"{workdir.rstrip('/')}/{args}"
        elif keyword == "COPY":
            words = [word for word in shlex.split(args) if not word.startswith("--")]
            copied |= {f"{words[-1].rstrip('/')}/{Path(source).name}" for source in words[:-1]}
        elif keyword == "RUN" and "pip install" in args:
            installs += 1
            if user != "airflow":
                found.append(f"pip install runs as {user}, not as the airflow user")
            for part in ("--no-cache-dir", "-c constraints.txt", '"apache-airflow==${AIRFLOW_VERSION}"'):
                if part not in args:
                    found.append(f"pip install lacks {part}")
            if not re.search(r"pip install [^&;]* \.(?: |$)", args):
                found.append("pip install does not install this package (.)")
            if f"{workdir.rstrip('/')}/constraints.txt" not in copied:
                found.append(f"constraints.txt is not copied into {workdir} before pip install")
            if "pip check" not in args:
                found.append("no pip check after pip install")
    if installs != 1:
        found.append(f"{installs} pip install steps, not one")
    if user != "airflow":
        found.append(f"the image ends as user {user}, not airflow")
    return found


def test_the_dockerfile_passes_the_lint() -> None:
    assert lint(DOCKERFILE.read_text()) == []


MUTATIONS = {
    "latest base": (("FROM apache/airflow:3.3.2-python3.11", "FROM apache/airflow:latest"), "FROM is"),
    "other python": (("python3.11\n", "python3.12\n"), "FROM is"),
    "root install": (("USER airflow\n", "USER root\n"), "pip install runs as root"),
    "ends as root": (("WORKDIR /opt/airflow\n", "WORKDIR /opt/airflow\nUSER root\n"), "ends as user root"),
    "no constraints": (("-c constraints.txt ", ""), "lacks -c constraints.txt"),
    "constraints not copied": (("README.md constraints.txt", "README.md"), "constraints.txt is not copied"),
    "airflow may move": (('"apache-airflow==${AIRFLOW_VERSION}" ', ""), "apache-airflow=="),
    "pip cache kept": (("--no-cache-dir ", ""), "lacks --no-cache-dir"),
    "no pip check": (("&& pip check ", ""), "no pip check"),
    "pip at start": (
        ("USER airflow\n", "USER airflow\nENV _PIP_ADDITIONAL_REQUIREMENTS=ml-connector\n"),
        "_PIP_",
    ),
}


@pytest.mark.parametrize("mutation", MUTATIONS, ids=list(MUTATIONS))
def test_the_lint_rejects_a_dockerfile_that_misses_a_requirement(mutation: str) -> None:
    (old, new), expected = MUTATIONS[mutation]
    text = DOCKERFILE.read_text()
    assert old in text
    broken = lint(text.replace(old, new, 1))
    assert any(expected in problem for problem in broken), broken


def test_the_base_image_is_the_pinned_airflow_and_python() -> None:
    """The image's Airflow is the one constraints.txt and pyproject.toml pin, so the install keeps it."""
    match = re.fullmatch(r"apache/airflow:([\d.]+)-python(3\.\d+)", BASE_IMAGE)
    assert match
    version, python = match.groups()
    pins = dict(line.split("==", 1) for line in (ROOT / "constraints.txt").read_text().split())
    assert pins["apache-airflow"] == version
    assert pins["apache-airflow-core"] == version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert f"apache-airflow=={version}" in project["dependencies"]
    assert project["requires-python"] == f">={python},<3.{int(python.split('.')[1]) + 1}"


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or one of its parents wins."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        forms = [pattern, pattern.removeprefix("**/")] if pattern.startswith("**/") else [pattern]
        for candidate in candidates:
            tails = ["/".join(candidate.split("/")[i:]) for i in range(candidate.count("/") + 1)]
            names = tails if pattern.startswith("**/") else [candidate]
            if any(fnmatch.fnmatchcase(name, form) for name in names for form in forms):
                result = not negated
    return result


def _patterns() -> list[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def test_the_build_context_holds_what_the_build_copies_and_no_secret() -> None:
    patterns = _patterns()
    for sources, _ in copies(DOCKERFILE.read_text()):
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
            assert not ignored(source.rstrip("/"), patterns), f"COPY {source} is left out by .dockerignore"
    for path in (
        ".env",
        ".env.example",
        ".venv/bin/python",
        ".git/config",
        ".airflow/airflow.cfg",
        "tests/conftest.py",
    ):
        assert ignored(path, patterns), f"{path} would be sent to the docker build"
    assert ignored("ml_connector/__pycache__/cli.cpython-311.pyc", patterns)
    assert not ignored("ml_connector/cli.py", patterns)
    assert not ignored("include/mappings/customers.yaml", patterns)


def test_the_matcher_follows_dockerignore_rules() -> None:
    assert ignored("a/b/c.txt", ["a"])
    assert not ignored("a/b/c.txt", ["*", "!a/"])
    assert ignored("a/b/__pycache__/x.pyc", ["*", "!a", "**/__pycache__"])
    assert not ignored("b.txt", ["a*"])


def test_what_the_dockerfile_copies_builds_a_wheel_with_the_mapping_files(tmp_path: Path) -> None:
    """The build context as the Dockerfile lays it out (symlinks kept, as COPY keeps them) makes a wheel
    that carries the default mapping files: ml_connector/mappings is a link into include/."""
    patterns = _patterns()
    source_dir = tmp_path / "src"
    for sources, _ in copies(DOCKERFILE.read_text()):
        for source in sources:
            origin = ROOT / source
            if origin.is_dir():
                shutil.copytree(
                    origin,
                    source_dir / source,
                    symlinks=True,
                    ignore=lambda folder, names: [
                        name
                        for name in names
                        if ignored(str((Path(folder) / name).relative_to(ROOT)), patterns)
                    ],
                )
            else:
                source_dir.mkdir(exist_ok=True)
                shutil.copy2(origin, source_dir / source)
    assert (source_dir / "ml_connector" / "mappings").is_symlink()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(source_dir),
        ],
        check=True,
        timeout=600,
    )
    (wheel,) = (tmp_path / "dist").glob("ml_connector-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for entity in ("customers", "suppliers"):
        assert f"ml_connector/mappings/{entity}.yaml" in names
    assert "ml_connector/cli.py" in names
    assert not [name for name in names if "__pycache__" in name]
