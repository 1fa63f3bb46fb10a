"""The README's fault matrix is the rendering of the catalogue, and the catalogue is well-formed."""

from __future__ import annotations

from pathlib import Path

import pytest
from faults.catalogue import CELLS, PHASES, Cell
from faults.render import COMMAND, END, START, readme_block, render, replace_block

README = Path(__file__).resolve().parents[2] / "README.md"
ROUTES = {
    "pipedrive": ("/oauth/token", "/v1/", "/api/v2/"),
    "workday": ("/ccx/",),
}
# Where each API's faults can happen (README "How one run works").
API_PHASES = {"Pipedrive": {"refresh", "field validation", "load"}, "Workday": {"refresh", "extract"}}


def test_the_readme_block_is_the_rendering_of_the_catalogue() -> None:
    text = README.read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1, "the README lost its fault-matrix markers"
    assert readme_block(text) == render(), f"the README's fault matrix is stale: run `{COMMAND}`"


def test_replacing_the_block_touches_nothing_outside_the_markers() -> None:
    text = f"before\n{START}\nold\n{END}\nafter\n"
    assert replace_block(text, "new") == f"before\n{START}\nnew\n{END}\nafter\n"
    with pytest.raises(ValueError):
        replace_block("no markers", "new")


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c.id)
def test_each_cell_is_possible_and_complete(cell: Cell) -> None:
    assert cell.phase in PHASES and cell.phase in API_PHASES[cell.api]
    assert cell.faults or cell.mutate, "a cell arms something"
    for fault in cell.faults:
        assert fault.route.split(" ", 1)[1].startswith(ROUTES[fault.server]), fault.route
    if cell.expected.kind == "fails":
        assert cell.expected.task and cell.expected.error and cell.expected.retried is not None
        assert cell.next != "nothing", "a failing cell says what the operator does"
    assert cell.operator


def test_the_short_version_names_only_cells_that_exist() -> None:
    from faults.catalogue import SHORT

    assert {(c.api, c.fault, c.phase) for c in CELLS if c.short} == SHORT
