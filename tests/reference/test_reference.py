"""The committed reference facts are exactly what ``make reference`` derives from the official files.

This is the one test that reads ``../shared/reference`` (or ``$ML_CONNECTOR_REFERENCE``): a clone with
nothing beside it runs every contract test on the committed facts, and this check where the official
files are there (CI lays them beside the clone).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from reference.derive import DEFAULT_REFERENCE, SPECS, derived

REFERENCE = Path(os.environ.get("ML_CONNECTOR_REFERENCE", DEFAULT_REFERENCE))


@pytest.mark.skipif(
    not (REFERENCE / SPECS[0][1]).is_file(),
    reason=f"the official reference files are not at {REFERENCE}; the committed facts are used as they are",
)
def test_committed_facts_are_what_the_official_files_give() -> None:
    stale = [
        str(path) for path, text in derived(REFERENCE).items() if path.read_text(encoding="utf-8") != text
    ]
    assert stale == [], f"run `make reference` and commit: {stale}"
