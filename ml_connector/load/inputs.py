"""What a load starts from: this run's transformed rows with the rows carried over, minus the rejects.

Reading is here; the folding rules (:func:`rows_to_load`, :func:`rejected_ops`) are pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

from ml_connector.fields import ResolvedFields
from ml_connector.load.plan import PlannedOp, Row, merge_carried
from ml_connector.load.state import read_deferred, rows_from_table
from ml_connector.staging.area import StagingArea
from ml_connector.staging.files import RunFiles, RunTable
from ml_connector.vocabulary import RECORD_KINDS, RecordKind

TRANSFORMED: dict[RecordKind, RunTable] = {
    "organization": "transformed_organizations",
    "person": "transformed_persons",
}


@dataclass(frozen=True)
class Rejected:
    op: PlannedOp
    fields: list[str]  # the field the transform found invalid, when it was one field


@dataclass(frozen=True)
class LoadInputs:
    rows: dict[RecordKind, list[Row]]
    rejected: list[Rejected]


def rejected_ops(records: Iterable[Mapping[str, Any]]) -> list[Rejected]:
    """The transform's rejects (rows of ``rejected``) as final decisions; they are never written."""
    return [
        Rejected(
            PlannedOp(
                cast(RecordKind, str(rec["entity"])),
                str(rec["key"]),
                "rejected",
                reason=str(rec.get("reason") or ""),
            ),
            [str(rec["field"])] if rec.get("field") else [],
        )
        for rec in records
    ]


def rows_to_load(
    current: Iterable[Row], carried: Iterable[Row], *, rejected: set[str], match_field: str
) -> list[Row]:
    """Carried-over rows first (:func:`merge_carried`), rejected keys left out, and the Workday-ID field set
    to the record key: that field is the identity, so it always carries exactly the key."""
    return [
        replace(r, values={**r.values, match_field: r.key})
        for r in merge_carried(current, carried)
        if r.key not in rejected
    ]


def read_inputs(area: StagingArea, files: RunFiles, entity: str, resolved: ResolvedFields) -> LoadInputs:
    rejected = rejected_ops(files.read_table("rejected").to_pylist()) if files.has_table("rejected") else []
    carried = read_deferred(area, entity)
    rows: dict[RecordKind, list[Row]] = {}
    for kind in RECORD_KINDS:
        rows[kind] = rows_to_load(
            rows_from_table(kind, files.read_table(TRANSFORMED[kind])),
            carried[kind],
            rejected={r.op.key for r in rejected if r.op.kind == kind},
            match_field=resolved.match_field(kind).name,
        )
    return LoadInputs(rows, rejected)
