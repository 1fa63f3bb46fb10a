"""The fault matrix's table for the README, rendered from the catalogue's expectations.

``python tests/faults/render.py --readme README.md`` replaces what stands between the markers
``<!-- fault-matrix:start -->`` and ``<!-- fault-matrix:end -->``; without ``--readme`` it prints the
block. ``tests/faults/test_readme_table.py`` fails when the README's block is not this rendering.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:  # run as a script: the catalogue imports as faults.catalogue
    sys.path.insert(0, str(TESTS))

from faults.catalogue import CELLS, SHORT_ENV, Cell  # noqa: E402

START = "<!-- fault-matrix:start -->"
END = "<!-- fault-matrix:end -->"
COMMAND = "python tests/faults/render.py --readme README.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _expected(cell: Cell) -> str:
    text = str(cell.expected)
    if cell.note:
        text += f" ({cell.note})"
    if cell.known_bug is not None:
        text += f". **{cell.known_bug}**"
    return text


def render() -> str:
    """The block between the markers (without them): a summary line and one row per cell."""
    outcomes = Counter(cell.expected.kind for cell in CELLS)
    bugs = sum(1 for cell in CELLS if cell.known_bug is not None)
    short = sum(1 for cell in CELLS if cell.short)
    lines = [
        f"{len(CELLS)} cells: {outcomes['completes']} complete, {outcomes['defers']} defer, "
        f"{outcomes['fails']} fail with the named error; {bugs} marked as known bugs. `make test` runs the "
        f"{short} marked ●, `{SHORT_ENV}=all` (`make soak`) all of them; each run writes the observed table "
        "to `.artifacts/faults/fault-matrix.md`. The customers DAG runs on a small sandbox tenant with one "
        "Airflow retry per task; after the operator's step (and a sync of the suppliers DAG) Pipedrive must "
        "equal the independent model of `tests/support/model.py`, and the identity maps must equal Pipedrive. "
        f"Regenerate this table with `{COMMAND}`.",
        "",
        "| # | API | fault | phase | armed on the sandbox | expected outcome | then the operator |",
        "|---|---|---|---|---|---|---|",
    ]
    for number, cell in enumerate(CELLS, start=1):
        row = [
            f"{number}{' ●' if cell.short else ''}",
            cell.api,
            cell.fault,
            cell.phase,
            cell.arming() or "-",
            _expected(cell),
            cell.operator,
        ]
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def replace_block(text: str, block: str) -> str:
    """``text`` with the block between the markers replaced; the markers must each stand once."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise ValueError(f"the README must hold {START} and then {END}, once each")
    head, rest = text.split(START)
    _, tail = rest.split(END)
    return f"{head}{START}\n{block}\n{END}{tail}"


def readme_block(text: str) -> str:
    """What stands between the markers now."""
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, help="rewrite the block between the markers of this file")
    args = parser.parse_args(argv)
    block = render()
    if args.readme is None:
        print(block)
        return 0
    text = args.readme.read_text(encoding="utf-8")
    new = replace_block(text, block)
    if new != text:
        args.readme.write_text(new, encoding="utf-8")
        print(f"{args.readme}: fault matrix rewritten ({len(CELLS)} cells)")
    else:
        print(f"{args.readme}: fault matrix already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
