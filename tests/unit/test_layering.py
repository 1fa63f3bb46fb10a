"""The package's layers, as the code imports them: no cycle, a pure plan and transform, self-contained hooks."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import ml_connector

PACKAGE = Path(ml_connector.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _top_level_imports(path: Path, modules: set[str]) -> set[str]:
    """What a module imports when it is imported: top-level statements, not TYPE_CHECKING blocks or
    imports inside functions (those run later, on purpose)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if _is_type_checking(node):
            continue
        for sub in ast.walk(node) if not isinstance(node, ast.FunctionDef | ast.ClassDef) else ():
            if isinstance(sub, ast.ImportFrom) and sub.module and sub.level == 0:
                for alias in sub.names:  # ``from pkg import module`` imports the module
                    name = f"{sub.module}.{alias.name}"
                    found.add(name if name in modules else sub.module)
            elif isinstance(sub, ast.Import):
                found.update(alias.name for alias in sub.names)
    return {name for name in found if name in modules}


def _graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: _top_level_imports(path, modules) for name, path in paths.items()}


def test_no_import_cycle() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    cycles: list[list[str]] = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def _loaded_by(*modules: str) -> list[str]:
    code = f"import sys\nimport {', '.join(modules)}\nprint(sorted(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return list(ast.literal_eval(out.strip().splitlines()[-1]))


@pytest.mark.parametrize("modules", [("ml_connector.load.plan",), ("ml_connector.transform",)])
def test_planning_and_transform_load_neither_hooks_nor_airflow(modules: tuple[str, ...]) -> None:
    loaded = _loaded_by(*modules)
    assert [m for m in loaded if m == "airflow" or m.startswith(("airflow.", "ml_connector.hooks"))] == []


def test_hooks_load_nothing_of_the_stages_or_the_dag() -> None:
    loaded = _loaded_by("ml_connector.hooks.pipedrive", "ml_connector.hooks.workday")
    stages = ("ml_connector.load", "ml_connector.dag", "ml_connector.transform", "ml_connector.fields")
    assert [m for m in loaded if m.startswith(stages)] == []
