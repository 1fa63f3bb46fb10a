"""Field definitions: the mapping's field names resolved to Pipedrive keys and option ids, before any write.

Pipedrive addresses a custom field by a 40-hex key and an enum/set option by an integer id, while the
mapping speaks in names and labels. :func:`validate_field_definitions` resolves both once per run,
creates what is missing when the mapping allows it, and refuses to go on (``FieldDefinitionError``)
when a field exists with an incompatible type or an option is missing and creation is off, so a bad
account set-up stops the run before a single record is written.

Resolved keys are pinned in ``state/fields/pinned.json`` (``{kind: {field name: key}}``, shared by both
DAGs): a field an admin renames in Pipedrive keeps its key, so later runs still find it by key instead
of creating a second field under the old name. A pinned key that no longer exists is an error, never a
silent re-creation (the data in the old field would be orphaned).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ml_connector.errors import ConnectorError, Remedy
from ml_connector.mapping import STANDARD_FIELDS, FieldSpec, SyncMapping
from ml_connector.staging.area import StagingArea
from ml_connector.staging.files import StateFiles
from ml_connector.vocabulary import RECORD_KINDS, RecordKind

if TYPE_CHECKING:
    from ml_connector.hooks.pipedrive import PipedriveHook

log = logging.getLogger(__name__)

FORMAT_VERSION = 1

# Existing Pipedrive field types that can hold what a mapped type produces.
COMPATIBLE_TYPES: dict[str, frozenset[str]] = {
    "varchar": frozenset({"varchar", "varchar_auto", "text"}),
    "varchar_auto": frozenset({"varchar", "varchar_auto", "text"}),
    "text": frozenset({"text"}),
    "phone": frozenset({"phone", "varchar", "text"}),
}
OPTION_TYPES = frozenset({"enum", "set"})


class FieldDefinitionError(ConnectorError, ValueError):
    """Pipedrive's field set-up cannot take the mapping; raised before any record is written."""

    remedy = Remedy.PERSON


# -- the result -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResolvedField:
    """One mapped field as Pipedrive knows it; ``options`` maps label -> option id."""

    name: str
    key: str
    field_type: str
    standard: bool = False
    match_key: bool = False
    options: Mapping[str, int] = field(default_factory=dict)
    # Not in Pipedrive yet: would be created (dry run), or an option field with no label to create it
    # with so far. Has no key; a record may only leave it empty.
    pending: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key": self.key,
            "field_type": self.field_type,
            "standard": self.standard,
            "match_key": self.match_key,
            "options": dict(self.options),
            "pending": self.pending,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ResolvedField:
        return cls(
            name=str(data["name"]),
            key=str(data["key"]),
            field_type=str(data["field_type"]),
            standard=bool(data.get("standard", False)),
            match_key=bool(data.get("match_key", False)),
            options={str(k): int(v) for k, v in (data.get("options") or {}).items()},
            pending=bool(data.get("pending", False)),
        )


@dataclass(frozen=True)
class ResolvedFields:
    """The mapping's fields of both kinds resolved against one Pipedrive account, ready to build bodies.

    Also carries the mapping's ``inactive_policy`` so that the loader needs nothing but this object.
    """

    entity: str
    organization: tuple[ResolvedField, ...]
    person: tuple[ResolvedField, ...]
    inactive_policy: str = "update_status"

    def fields(self, kind: RecordKind) -> tuple[ResolvedField, ...]:
        return self.organization if kind == "organization" else self.person

    def by_name(self, kind: RecordKind) -> dict[str, ResolvedField]:
        return {f.name: f for f in self.fields(kind)}

    def match_field(self, kind: RecordKind) -> ResolvedField:
        """The Workday-ID field records of ``kind`` are identified by."""
        for f in self.fields(kind):
            if f.match_key:
                return f
        raise FieldDefinitionError(f"the {kind} mapping has no match_key field (the Workday ID field)")

    def to_payload(self, kind: RecordKind, values: Mapping[str, Any]) -> dict[str, Any]:
        """A Pipedrive v2 body from transformed ``values`` (field name -> canonical value).

        Only the given fields are included, so a PATCH carries just what changed. Names the mapping
        does not know are refused: sending them would fail Pipedrive's strict validation anyway.
        """
        known = self.by_name(kind)
        body: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        for name, value in values.items():
            spec = known.get(name)
            if spec is None:
                raise FieldDefinitionError(f"{kind} field '{name}' is not in the resolved mapping")
            if spec.pending:
                if value is None or value == "" or value == []:
                    continue
                raise FieldDefinitionError(
                    f"{kind} field '{name}' does not exist in Pipedrive yet: validate the field "
                    "definitions with this run's data (observed options), not as a dry run, before loading"
                )
            if spec.standard:
                body[spec.key] = _standard_value(spec.key, value)
            else:
                custom[spec.key] = _custom_value(kind, spec, value)
        if custom:
            body["custom_fields"] = custom
        return body

    def values_from_record(self, kind: RecordKind, record: Mapping[str, Any]) -> dict[str, Any]:
        """The canonical values of a Pipedrive record (labels, sorted lists), for fields it carries.

        The inverse of :meth:`to_payload`, so a record listed from Pipedrive can be diffed against the
        transform's values. Custom fields absent from the record (not requested) are left out.
        """
        customs = record.get("custom_fields") or {}
        out: dict[str, Any] = {}
        for spec in self.fields(kind):
            if spec.pending:
                continue
            if spec.standard:
                raw = record.get(spec.key)
                if spec.key == "address":
                    raw = raw.get("value") if isinstance(raw, dict) else raw
                elif spec.key in ("emails", "phones"):
                    raw = [
                        {"value": e.get("value"), "primary": bool(e.get("primary")), "label": e.get("label")}
                        for e in raw or []
                    ]
                out[spec.name] = raw
            elif spec.key in customs:
                out[spec.name] = _custom_label(spec, customs[spec.key])
        return out

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready object (the run's ``fields.json``, see :mod:`ml_connector.staging.files`)."""
        return {
            "version": FORMAT_VERSION,
            "entity": self.entity,
            "inactive_policy": self.inactive_policy,
            "organization": [f.to_json() for f in self.organization],
            "person": [f.to_json() for f in self.person],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> ResolvedFields:
        obj: Mapping[str, Any] = json.loads(data) if isinstance(data, str) else data
        if obj.get("version") != FORMAT_VERSION:
            raise ValueError(f"resolved fields of format version {obj.get('version')!r} cannot be read")
        return cls(
            entity=str(obj["entity"]),
            organization=tuple(ResolvedField.from_json(f) for f in obj["organization"]),
            person=tuple(ResolvedField.from_json(f) for f in obj["person"]),
            inactive_policy=str(obj.get("inactive_policy", "update_status")),
        )


def observed_options(
    mapping: SyncMapping, values: Mapping[RecordKind, Callable[[], Iterable[pa.RecordBatch]]]
) -> dict[tuple[RecordKind, str], set[str]]:
    """Option labels the transformed rows use for each enum/set field, so missing options can be created
    before the first write. ``values`` opens, per kind, the transformed rows' ``values`` a batch at a time."""
    seen: dict[tuple[RecordKind, str], set[str]] = {}
    for kind, batches in values.items():
        specs = [f for f in mapping.entity_mapping(kind).fields if not f.standard and f.type in OPTION_TYPES]
        if not specs:
            continue
        for raw in (text for batch in batches() for text in batch.column("values").to_pylist()):
            values_of_row = json.loads(raw)
            for spec in specs:
                value = values_of_row.get(spec.name)
                labels = value if isinstance(value, list) else [value]
                seen.setdefault((kind, spec.name), set()).update(
                    str(v) for v in labels if v not in (None, "")
                )
    return seen


def staged_resolution(
    staged: dict[str, Any] | None, observed: Mapping[tuple[RecordKind, str], set[str]]
) -> ResolvedFields | None:
    """The resolution ``validate_field_definitions`` staged for this run (its ``fields.json``), when it
    already knows every option label the data uses; otherwise None, and the fields are resolved again."""
    if staged is None:
        return None
    resolved = ResolvedFields.from_json(staged)
    for (kind, name), labels in observed.items():
        spec = resolved.by_name(kind).get(name)
        known = {label.casefold() for label in spec.options} if spec and not spec.pending else set()
        if any(label.casefold() not in known for label in labels):
            return None
    return resolved


def fields_for_load(
    hook: PipedriveHook,
    mapping: SyncMapping,
    area: StagingArea,
    staged: dict[str, Any] | None,
    values: Mapping[RecordKind, Callable[[], Iterable[pa.RecordBatch]]],
    *,
    dry_run: bool,
) -> ResolvedFields:
    """The resolution the load writes with: the one ``validate_field_definitions`` staged for this run
    when it knows every option label the rows use, else resolved again with those labels (creating what
    is allowed), so a new label in the data never fails a write."""
    observed = observed_options(mapping, values)
    resolved = staged_resolution(staged, observed)
    if resolved is not None:
        return resolved
    return validate_field_definitions(hook, mapping, area, observed, dry_run=dry_run)


# -- value conversion -------------------------------------------------------------------------------------
def _standard_value(key: str, value: Any) -> Any:
    if key == "address":
        return None if value in (None, "") else {"value": str(value)}
    if key in ("emails", "phones"):
        return [
            {k: v for k, v in dict(entry).items() if k in ("value", "primary", "label") and v is not None}
            for entry in value or []
        ]
    return value


def _custom_value(kind: RecordKind, spec: ResolvedField, value: Any) -> Any:
    """Typed as Pipedrive v2 wants it: option ids, never ``[]`` (null clears), numbers as numbers."""
    if value is None or value == "":
        return None
    if spec.field_type in OPTION_TYPES:
        labels = value if isinstance(value, list) else [value]
        folded = {k.casefold(): v for k, v in spec.options.items()}
        ids: list[int] = []
        for label in labels:
            option = spec.options.get(str(label), folded.get(str(label).casefold()))
            if option is None:
                raise FieldDefinitionError(
                    f"{kind} field '{spec.name}' has no option '{label}' in Pipedrive: validate the field "
                    "definitions with this run's data (observed options) before loading"
                )
            ids.append(option)
        if spec.field_type == "enum":
            return ids[0] if ids else None
        return sorted(set(ids)) or None
    if spec.field_type in ("double", "monetary"):
        return float(value)
    return str(value)


def _custom_label(spec: ResolvedField, raw: Any) -> Any:
    if raw is None:
        return [] if spec.field_type == "set" else None
    if spec.field_type in OPTION_TYPES:
        by_id = {v: k for k, v in spec.options.items()}
        ids = raw if isinstance(raw, list) else [raw]
        labels = sorted(by_id[i] for i in ids if i in by_id)
        return labels if spec.field_type == "set" else (labels[0] if labels else None)
    return raw


# -- validation -------------------------------------------------------------------------------------------
@dataclass
class _Step:
    """What resolving one field needs done in Pipedrive; kept apart so nothing is created before all
    fields are known to be acceptable."""

    spec: FieldSpec
    existing: dict[str, Any] | None
    missing_options: list[str]


@dataclass(frozen=True)
class FieldPlan:
    """What :func:`validate_field_definitions` would do, decided before anything is created: the pins
    it read, and per kind one step per field it can resolve."""

    pins: dict[str, dict[str, str]]
    steps: dict[RecordKind, list[_Step]]

    def changes(self) -> list[str]:
        """What the first real run would change in Pipedrive, one sentence each (nothing is changed here)."""
        out: list[str] = []
        for kind, steps in self.steps.items():
            for step in steps:
                spec = step.spec
                wanted = spec.type or "varchar"
                labels = ", ".join(repr(label) for label in step.missing_options)
                if spec.standard:
                    continue
                if step.existing is None and wanted in OPTION_TYPES and not step.missing_options:
                    out.append(
                        f"{kind} field '{spec.name}' ({wanted}) is created with its first option label"
                    )
                elif step.existing is None:
                    with_options = f" with option(s) {labels}" if wanted in OPTION_TYPES else ""
                    out.append(f"{kind} field '{spec.name}' ({wanted}) is created{with_options}")
                elif step.missing_options:
                    out.append(f"option(s) {labels} are added to {kind} field '{spec.name}'")
        return out

    def resolved_count(self) -> int:
        """Fields that already exist in Pipedrive (or are standard) and need nothing."""
        return sum(
            1
            for steps in self.steps.values()
            for step in steps
            if step.spec.standard or (step.existing is not None and not step.missing_options)
        )


def plan_field_definitions(
    hook: PipedriveHook,
    mapping: SyncMapping,
    area: StagingArea,
    observed_options: Mapping[tuple[RecordKind, str], set[str]] | None = None,
    *,
    refusals: list[FieldDefinitionError] | None = None,
) -> FieldPlan:
    """The checks of :func:`validate_field_definitions`, creating and pinning nothing: reads the pins and
    each kind's field definitions (GETs only). Raises :class:`FieldDefinitionError` at the first field
    Pipedrive cannot take; with ``refusals`` every such error is collected there instead and the field
    is left out of the plan (``ml-connector doctor`` lists them all)."""
    pins: dict[str, dict[str, str]] = area.read_json(StateFiles(area).pinned_fields_path, default={}) or {}
    observed = observed_options or {}
    steps: dict[RecordKind, list[_Step]] = {}

    def refused(exc: FieldDefinitionError) -> None:
        if refusals is None:
            raise exc
        refusals.append(exc)

    for kind in RECORD_KINDS:
        specs = list(getattr(mapping, kind).fields)
        try:
            _check_match_key(kind, specs)
        except FieldDefinitionError as exc:
            refused(exc)
        existing = hook.list_fields(kind)
        steps[kind] = []
        for spec in specs:
            try:
                steps[kind].append(_plan_field(kind, spec, existing, pins.get(kind, {}), observed, mapping))
            except FieldDefinitionError as exc:
                refused(exc)
    return FieldPlan(pins, steps)


def validate_field_definitions(
    hook: PipedriveHook,
    mapping: SyncMapping,
    area: StagingArea,
    observed_options: Mapping[tuple[RecordKind, str], set[str]] | None = None,
    *,
    dry_run: bool = False,
) -> ResolvedFields:
    """Resolve every mapped field of both kinds; create missing fields/options when allowed; pin keys.

    ``observed_options`` maps ``(kind, field name)`` to the option labels this run's data uses, so
    that labels seen only in data are created too (or refused, when creation is off). Every check of
    both kinds runs before the first field is created (:func:`plan_field_definitions`). With
    ``dry_run`` nothing is created or pinned: fields that would be created come back ``pending``.
    """
    plan = plan_field_definitions(hook, mapping, area, observed_options)
    pins = plan.pins
    resolved: dict[RecordKind, tuple[ResolvedField, ...]] = {}
    for kind in RECORD_KINDS:
        resolved[kind] = tuple(_apply(hook, kind, step, dry_run) for step in plan.steps[kind])
    if not dry_run:
        new_pins = {k: dict(v) for k, v in pins.items()}
        for kind in RECORD_KINDS:
            new_pins.setdefault(kind, {}).update({f.name: f.key for f in resolved[kind] if not f.standard})
        if new_pins != pins:
            area.write_json(StateFiles(area).pinned_fields_path, new_pins)
    return ResolvedFields(
        entity=mapping.entity,
        organization=resolved["organization"],
        person=resolved["person"],
        inactive_policy=mapping.inactive_policy,
    )


def _check_match_key(kind: RecordKind, specs: Sequence[FieldSpec]) -> None:
    keys = [s for s in specs if s.match_key]
    if len(keys) != 1:
        raise FieldDefinitionError(f"the {kind} mapping needs exactly one match_key field, not {len(keys)}")
    if keys[0].standard or keys[0].type not in ("varchar", "varchar_auto", "text"):
        raise FieldDefinitionError(
            f"{kind} match key '{keys[0].name}' must be a custom text field (varchar), so records can be "
            "listed by it"
        )


def _plan_field(
    kind: RecordKind,
    spec: FieldSpec,
    existing: list[dict[str, Any]],
    pins: Mapping[str, str],
    observed: Mapping[tuple[RecordKind, str], set[str]],
    mapping: SyncMapping,
) -> _Step:
    if spec.standard:
        if spec.name not in STANDARD_FIELDS[kind]:  # the mapping checks this too; a stale file may not
            allowed = ", ".join(sorted(STANDARD_FIELDS[kind]))
            raise FieldDefinitionError(
                f"{kind} field '{spec.name}' is marked standard but is not one of {allowed}"
            )
        return _Step(spec, None, [])
    wanted_type = spec.type or "varchar"
    found = _find(kind, spec.name, existing, pins.get(spec.name))
    seen = sorted(observed.get((kind, spec.name), set())) if spec.create_missing_options else []
    wanted_labels = _unique_labels([*(spec.options or []), *seen])
    if found is None:
        if not mapping.create_missing_fields:
            raise FieldDefinitionError(
                f"{kind} field '{spec.name}' does not exist in Pipedrive and create_missing_fields is off: "
                "create it in Pipedrive or allow creation in the mapping"
            )
        return _Step(spec, None, wanted_labels)
    actual = str(found.get("field_type"))
    if actual not in COMPATIBLE_TYPES.get(wanted_type, frozenset({wanted_type})):
        raise FieldDefinitionError(
            f"{kind} field '{spec.name}' (key {found['field_code']}) is of type '{actual}' in Pipedrive "
            f"but the mapping needs '{wanted_type}': change the mapping or use another field"
        )
    have = {str(o["label"]).casefold() for o in found.get("options") or []}
    missing = [label for label in wanted_labels if label.casefold() not in have]
    # Labels listed in the mapping are created under create_missing_fields; labels only seen in data
    # are wanted at all only under create_missing_options, which also allows creating them.
    if missing and not (mapping.create_missing_fields or spec.create_missing_options):
        raise FieldDefinitionError(
            f"{kind} field '{spec.name}' lacks the option(s) {', '.join(repr(m) for m in missing)} and "
            "creation is off (create_missing_fields: false): add them in Pipedrive or allow creation in "
            "the mapping"
        )
    return _Step(spec, found, missing)


def _unique_labels(labels: Sequence[str]) -> list[str]:
    """Labels in order, each once ignoring case (Pipedrive option labels are matched that way)."""
    out: dict[str, str] = {}
    for label in labels:
        out.setdefault(label.casefold(), label)
    return list(out.values())


def _find(
    kind: RecordKind, name: str, existing: list[dict[str, Any]], pinned: str | None
) -> dict[str, Any] | None:
    """By pinned key first (survives renames), else by name (exact, then ignoring case and spaces)."""
    customs = [f for f in existing if f.get("is_custom_field")]
    if pinned is not None:
        for f in customs:
            if f.get("field_code") == pinned:
                return f
        raise FieldDefinitionError(
            f"{kind} field '{name}' was pinned to key {pinned}, which no longer exists in Pipedrive (the "
            f"field was deleted): restore it, or remove the pin from state/fields/pinned.json "
            "to resolve the field by name again"
        )
    for matches in (
        [f for f in customs if f.get("field_name") == name],
        [f for f in customs if str(f.get("field_name", "")).strip().casefold() == name.strip().casefold()],
    ):
        if len(matches) > 1:
            keys = ", ".join(str(f["field_code"]) for f in matches)
            raise FieldDefinitionError(
                f"{kind} field '{name}' is ambiguous: Pipedrive has {len(matches)} fields of that name "
                f"({keys}); rename or delete the extra ones"
            )
        if matches:
            return matches[0]
    return None


def _apply(hook: PipedriveHook, kind: RecordKind, step: _Step, dry_run: bool) -> ResolvedField:
    spec = step.spec
    if spec.standard:
        return ResolvedField(spec.name, spec.name, "standard", standard=True, match_key=False)
    wanted_type = spec.type or "varchar"
    found = step.existing
    if found is None:
        if wanted_type in OPTION_TYPES and not step.missing_options:
            log.info("%s field '%s' waits for its first option label before it is created", kind, spec.name)
            return ResolvedField(spec.name, "", wanted_type, match_key=spec.match_key, pending=True)
        if dry_run:
            return ResolvedField(spec.name, "", wanted_type, match_key=spec.match_key, pending=True)
        labels = step.missing_options if wanted_type in OPTION_TYPES else None
        found = hook.create_field(kind, spec.name, wanted_type, labels)
        log.info("created %s field '%s' (%s) with key %s", kind, spec.name, wanted_type, found["field_code"])
    elif step.missing_options and not dry_run:
        added = hook.add_field_options(kind, str(found["field_code"]), step.missing_options)
        found = {**found, "options": [*(found.get("options") or []), *added]}
        log.info("added %d option(s) to %s field '%s'", len(added), kind, spec.name)
    options = {str(o["label"]): int(o["id"]) for o in found.get("options") or []}
    return ResolvedField(
        spec.name,
        str(found["field_code"]),
        str(found["field_type"]),
        match_key=spec.match_key,
        options=options,
    )
