"""A manual full-refresh run staged up to its load: what the tests of the load over real HTTP start from."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ml_connector.dag.context import RunContext
from ml_connector.dag.tasks import extract, transform, validate_fields
from ml_connector.mapping import load_mapping
from ml_connector.staging.area import StagingArea


def staged_full_refresh(mapping_file: Path, staging: Path, run_after: datetime) -> RunContext:
    """``validate_field_definitions``, ``extract`` and ``transform`` of a manual full refresh at
    ``run_after`` (run id ``manual__<run_after>``), with the connections the environment sets."""
    mapping = load_mapping(mapping_file)
    ctx = RunContext(
        dag_id=f"workday_{mapping.entity}_to_pipedrive",
        run_id=f"manual__{run_after.isoformat()}",
        mapping=mapping,
        area=StagingArea(f"file://{staging}"),
        mode="full_refresh",
        run_after=run_after,
    )
    validate_fields(ctx)
    extract(ctx)
    transform(ctx)
    return ctx
