"""What a load starts from: this run's transformed rows with the rows carried over, minus the rejects.

Reading is here, a batch at a time (:class:`KindRows`); the folding rules (:func:`rows_to_load`,
:func:`rejected_ops`) are pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc

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
class KindRows:
    """One kind's rows to load, read a batch at a time: the carried-over rows first (each in this run's
    version when it has one), then this run's other rows in the file's order; rejected keys left out,
    the Workday-ID field set to the key (:func:`rows_to_load`). Only the carried rows are held."""

    kind: RecordKind
    files: RunFiles
    carried: list[Row]
    exclude: frozenset[str]  # carried and rejected keys: not taken from this run's file again
    match_field: str
    count: int

    def keys_active(self) -> Iterator[tuple[str, bool]]:
        """``(key, active)`` of every row, without reading their values."""
        yield from ((r.key, r.active) for r in self.carried)
        for batch in self.files.iter_batches(TRANSFORMED[self.kind], columns=["key", "active"]):
            for key, active in zip(
                batch.column("key").to_pylist(), batch.column("active").to_pylist(), strict=True
            ):
                if key not in self.exclude:
                    yield str(key), active is not False

    def batches(self, size: int) -> Iterator[list[Row]]:
        """The rows, ``size`` at a time."""
        pending = list(self.carried)
        for batch in self.files.iter_batches(TRANSFORMED[self.kind]):
            current = rows_from_table(self.kind, pa.Table.from_batches([batch]))
            pending += rows_to_load(current, [], rejected=self.exclude, match_field=self.match_field)
            while len(pending) >= size:
                yield pending[:size]
                pending = pending[size:]
        if pending:
            yield pending


@dataclass(frozen=True)
class LoadInputs:
    rows: dict[RecordKind, KindRows]
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
    current: Iterable[Row], carried: Iterable[Row], *, rejected: AbstractSet[str], match_field: str
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
    rows: dict[RecordKind, KindRows] = {}
    for kind in RECORD_KINDS:
        waiting = {r.key for r in carried[kind]}
        refused = {r.op.key for r in rejected if r.op.kind == kind}
        newer = (
            rows_from_table(kind, files.read_rows(TRANSFORMED[kind], pc.field("key").isin(sorted(waiting))))
            if waiting
            else []
        )
        first = rows_to_load(
            newer, carried[kind], rejected=refused, match_field=resolved.match_field(kind).name
        )
        exclude = frozenset(waiting | refused)
        others = sum(
            sum(1 for key in batch.column("key").to_pylist() if key not in exclude)
            for batch in files.iter_batches(TRANSFORMED[kind], columns=["key"])
        )
        rows[kind] = KindRows(
            kind, files, first, exclude, resolved.match_field(kind).name, len(first) + others
        )
    return LoadInputs(rows, rejected)
