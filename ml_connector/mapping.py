"""The mapping file: which Pipedrive field each Workday value goes to, and when a sync runs.

One YAML file per entity (``include/mappings/customers.yaml``, ``suppliers.yaml``) is loaded at DAG
parse time, so :func:`load_mapping` only reads the file and checks it: no network, no Airflow. A bad
file raises :class:`MappingError` naming the file, the key path (``organization.fields[3].options``)
and the problem. Structural problems (types, unknown keys) and the rules that need to know the entity
(sources, standard fields, the match key) are reported together, so a user fixes the file in one go
instead of learning about mistakes one scheduler parse at a time.

Sources are dotted names on the transform's *view* of a record (:data:`ORGANIZATION_SOURCES`,
:data:`PERSON_SOURCES`, plus ``worktags.<TYPE>`` for organizations); the view is built by
``ml_connector.transform.views``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from croniter import croniter
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from ml_connector.alerts.settings import AlertSettings
from ml_connector.errors import ConnectorError, Remedy
from ml_connector.vocabulary import Entity, RecordKind

FieldType = Literal["varchar", "varchar_auto", "text", "enum", "set", "double", "phone", "date"]
SourceKind = Literal["text", "number", "list", "contacts"]

DEFAULT_SCHEDULES: dict[str, str] = {"customers": "0 * * * *", "suppliers": "0 2 * * *"}
MIN_SCHEDULE_GAP = timedelta(minutes=5)
# Pipedrive refuses longer values in these field types; a mapping may set a lower max_length.
PIPEDRIVE_MAX_LENGTH: dict[str, int] = {"varchar": 255, "varchar_auto": 255, "phone": 255}
STANDARD_MAX_LENGTH: dict[str, int] = {"name": 255, "first_name": 255, "last_name": 255}

# What the transform's view of a record offers, and the kind of value each name holds.
ORGANIZATION_SOURCES: dict[str, SourceKind] = {
    "org_key": "text",  # the Pipedrive organization's identity: Customer_ID, else Supplier_ID
    "workday_id": "text",  # this record's own ID (Customer_ID or Supplier_ID)
    "customer_id": "text",
    "supplier_id": "text",
    "reference_id": "text",
    "name": "text",
    "roles": "list",  # "Customer", "Supplier"
    "category": "text",  # descriptor, else ID
    "category_id": "text",
    "groups": "list",  # descriptors, else IDs
    "payment_terms": "text",
    "payment_terms_id": "text",
    "currency": "text",
    "status": "text",  # "Active" / "Inactive"
    "country_code": "text",
    "region_code": "text",
    "region": "text",
    "city": "text",
    "postal_code": "text",
    "primary_address": "text",  # one line
    "primary_email": "text",
    "primary_phone": "text",
    "website": "text",
    "tax_id": "text",
    "credit_limit": "number",  # customers only
    "approval_status": "text",  # suppliers only
}
WORKTAG_PREFIX = "worktags."
PERSON_SOURCES: dict[str, SourceKind] = {
    "person_key": "text",  # the contact's Contact_ID
    "contact_id": "text",
    "org_key": "text",
    "customer_id": "text",
    "supplier_id": "text",
    "name": "text",
    "first_name": "text",
    "last_name": "text",
    "emails": "contacts",  # [{value, primary, label}], primary first
    "phones": "contacts",
    "primary_email": "text",
    "primary_phone": "text",
}
STANDARD_FIELDS: dict[RecordKind, dict[str, SourceKind]] = {
    "organization": {"name": "text", "address": "text"},
    "person": {
        "name": "text",
        "first_name": "text",
        "last_name": "text",
        "emails": "contacts",
        "phones": "contacts",
    },
}
# Which source kinds a custom field type can hold.
TYPE_ACCEPTS: dict[str, frozenset[str]] = {
    "varchar": frozenset({"text"}),
    "varchar_auto": frozenset({"text"}),
    "text": frozenset({"text"}),
    "phone": frozenset({"text"}),
    "date": frozenset({"text"}),
    "enum": frozenset({"text"}),
    "set": frozenset({"text", "list"}),
    "double": frozenset({"number"}),
}
MATCH_KEY_SOURCES: dict[RecordKind, str] = {"organization": "org_key", "person": "person_key"}
_TEXT_TYPES = frozenset({"varchar", "varchar_auto", "text"})
_PRESETS: dict[str, str] = {  # Airflow's recurring presets
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}
_WORKTAG_TYPE = re.compile(r"^[A-Za-z0-9_]+$")


class MappingError(ConnectorError, ValueError):
    """A mapping that cannot be used; ``problems`` are ``(key path, problem)`` pairs."""

    remedy = Remedy.PERSON

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{path}: {problem}" if path else problem for path, problem in problems]
        super().__init__(f"invalid mapping {source}:\n  " + "\n  ".join(lines))


Loc = tuple[str | int, ...]
Problems = list[tuple[Loc, str]]


class _RuleViolations(ValueError):
    """Raised inside validators; carries key paths relative to the model being validated."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{_path(p)}: {m}" if p else m for p, m in problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class FieldSpec(_Strict):
    """One Pipedrive field and the Workday value written to it."""

    name: str = Field(min_length=1)  # Pipedrive field name, or a standard key (``name``, ``address``...)
    standard: bool = False
    type: FieldType | None = None  # custom fields only
    source: str = Field(min_length=1)
    options: list[str] | None = None  # enum/set labels known up front
    create_missing_options: bool = False  # let field validation add labels seen in data
    match_key: bool = False
    max_length: int | None = Field(default=None, gt=0)

    @property
    def limit(self) -> int | None:
        """The longest text accepted: the mapping's ``max_length``, capped by Pipedrive's own limit."""
        pipedrive = (
            STANDARD_MAX_LENGTH.get(self.name) if self.standard else PIPEDRIVE_MAX_LENGTH.get(self.type or "")
        )
        if self.max_length is None:
            return pipedrive
        return self.max_length if pipedrive is None else min(self.max_length, pipedrive)

    @model_validator(mode="after")
    def _check(self) -> FieldSpec:
        problems: Problems = []
        if self.standard:
            for key, value in (("type", self.type), ("options", self.options)):
                if value is not None:
                    problems.append(
                        ((key,), "a standard field has a fixed type and no options; remove this key")
                    )
            if self.create_missing_options:
                problems.append(
                    (("create_missing_options",), "a standard field has no options; remove this key")
                )
            if self.match_key:
                problems.append(
                    (("match_key",), "the match key must be a custom field (the Workday ID field)")
                )
        elif self.type is None:
            problems.append(
                (("type",), "a custom field needs a type (varchar, text, enum, set, double, ...)")
            )
        elif self.type in ("enum", "set"):
            if not self.options and not self.create_missing_options:
                problems.append(
                    (
                        ("options",),
                        f"an {self.type} field needs a list of options or create_missing_options: true",
                    )
                )
        else:
            for key in ("options", "create_missing_options"):
                if getattr(self, key):
                    problems.append(((key,), f"only enum and set fields have options, not {self.type}"))
        seen: set[str] = set()
        for i, option in enumerate(self.options or []):
            if not option:
                problems.append((("options", i), "an option label cannot be blank"))
            elif option.casefold() in seen:
                problems.append((("options", i), f"option {option!r} is listed twice"))
            seen.add(option.casefold())
        if self.match_key and self.type not in _TEXT_TYPES:
            problems.append((("type",), "the match key holds an ID: use varchar, varchar_auto or text"))
        if self.max_length is not None and not self.standard and self.type not in (*_TEXT_TYPES, "phone"):
            problems.append((("max_length",), f"max_length applies to text fields, not {self.type}"))
        cap = (
            STANDARD_MAX_LENGTH.get(self.name) if self.standard else PIPEDRIVE_MAX_LENGTH.get(self.type or "")
        )
        if self.max_length is not None and cap is not None and self.max_length > cap:
            what = f"the standard field {self.name}" if self.standard else f"{self.type} fields"
            problems.append(
                (
                    ("max_length",),
                    f"max_length {self.max_length} is more than Pipedrive takes for {what} ({cap})",
                )
            )
        if problems:
            raise _RuleViolations(problems)
        return self


class EntityMapping(_Strict):
    """The fields of one Pipedrive entity kind; exactly one is the match key."""

    fields: list[FieldSpec] = Field(min_length=1)

    @property
    def match_key(self) -> FieldSpec:
        return next(f for f in self.fields if f.match_key)

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def custom_fields(self) -> list[FieldSpec]:
        return [f for f in self.fields if not f.standard]

    @model_validator(mode="after")
    def _check(self) -> EntityMapping:
        problems = _entity_problems([(f.name, f.match_key) for f in self.fields])
        if problems:
            raise _RuleViolations(problems)
        return self


def _entity_problems(fields: list[tuple[str | None, bool]]) -> Problems:
    """Exactly one match key, no field mapped twice; ``fields`` are (name, match_key) pairs."""
    problems: Problems = []
    keys = [i for i, (_, match_key) in enumerate(fields) if match_key]
    if len(keys) != 1:
        found = ", ".join(f"fields[{i}] ({fields[i][0]!r})" for i in keys) or "none"
        problems.append(
            (("fields",), f"exactly one field needs match_key: true (the Workday ID); found {found}")
        )
    seen: dict[str, int] = {}
    for i, (name, _) in enumerate(fields):
        if name is None:
            continue
        if name.casefold() in seen:
            problems.append(
                (("fields", i, "name"), f"{name!r} is already mapped by fields[{seen[name.casefold()]}]")
            )
        seen.setdefault(name.casefold(), i)
    return problems


def _raw_entity_problems(value: Any) -> Problems:
    entries = value.get("fields") if isinstance(value, Mapping) else None
    if not isinstance(entries, list):
        return []
    pairs = [(_text(e.get("name")), e.get("match_key") is True) for e in entries if isinstance(e, Mapping)]
    return _entity_problems(pairs) if len(pairs) == len(entries) else []


class SyncMapping(_Strict):
    """Everything one sync DAG needs to know from its mapping file."""

    entity: Entity
    schedule: str = Field(min_length=1)  # cron (UTC) or an Airflow preset; at most every 5 minutes
    overlap_minutes: int = Field(default=10, ge=0, le=24 * 60)
    catchup: bool = False
    create_missing_fields: bool = True
    inactive_policy: Literal["update_status", "skip"] = "update_status"
    retention_days: int = Field(default=14, ge=1)
    # The audit ledger outlives staging: a dispute about a record may come a year later.
    ledger_retention_days: int = Field(default=400, ge=30)
    # A run whose rejects exceed this share of the records it read fails its report task (after every
    # record that could be written was written), so Airflow's failure alerts see it.
    max_rejected_share: float = Field(default=0.05, ge=0, le=1)
    # Airflow pools for the Workday- and Pipedrive-calling tasks; none by default, since a task naming a
    # pool that does not exist is never scheduled. Create the pool first when setting one.
    workday_pool: str | None = Field(default=None, min_length=1)
    pipedrive_pool: str | None = Field(default=None, min_length=1)
    # Where alerts go besides the task log (mail, a chat webhook), by Airflow connection id; none: log only.
    alerts: AlertSettings | None = None
    organization: EntityMapping
    person: EntityMapping

    @model_validator(mode="before")
    @classmethod
    def _default_schedule(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "schedule" not in data and data.get("entity") in DEFAULT_SCHEDULES:
            return {**data, "schedule": DEFAULT_SCHEDULES[data["entity"]]}
        return data

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        problem = schedule_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("organization", "person", mode="wrap")
    @classmethod
    def _entity(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        """Checks that depend on the entity kind, run on the raw entries so they are reported together
        with any structural problem of the same file instead of only after those are fixed."""
        kind: RecordKind = "organization" if info.field_name == "organization" else "person"
        problems: Problems = []
        result = None
        try:
            result = handler(value)
        except ValidationError as exc:
            problems += _nested(exc)
            problems += _raw_entity_problems(value)  # EntityMapping's own check did not get to run
        entries = value.get("fields") if isinstance(value, Mapping) else None
        if isinstance(entries, list):
            for i, entry in enumerate(entries):
                if isinstance(entry, Mapping):
                    problems += [(("fields", i, key), m) for key, m in _field_problems(kind, entry)]
            if not any(
                isinstance(e, Mapping) and e.get("standard") is True and e.get("name") == "name"
                for e in entries
            ):
                problems.append((("fields",), "map the standard field name (Pipedrive requires a name)"))
        if problems:
            raise _RuleViolations(list(dict.fromkeys(problems)))
        return result

    def entity_mapping(self, kind: RecordKind) -> EntityMapping:
        return self.organization if kind == "organization" else self.person


def source_kind(kind: RecordKind, source: str) -> SourceKind | None:
    """The kind of value ``source`` holds on the view of ``kind``, or None if the view has no such name."""
    if kind == "organization":
        if source.startswith(WORKTAG_PREFIX):
            return "text" if _WORKTAG_TYPE.match(source.removeprefix(WORKTAG_PREFIX)) else None
        return ORGANIZATION_SOURCES.get(source)
    return PERSON_SOURCES.get(source)


def _field_problems(kind: RecordKind, entry: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Standard names, sources and their value kinds, checked on a raw field entry (wrong-typed keys
    are left to the structural check, which reports them)."""
    problems: list[tuple[str, str]] = []
    name, source, type_ = (_text(entry.get(k)) for k in ("name", "source", "type"))
    is_standard = entry.get("standard") is True
    standard = STANDARD_FIELDS[kind]
    if is_standard and name is not None and name not in standard:
        problems.append(("name", f"a standard {kind} field is one of {', '.join(standard)}"))
    if source is None:
        return problems
    got = source_kind(kind, source)
    if got is None:
        known = (
            ", ".join(ORGANIZATION_SOURCES) + ", worktags.<TYPE>"
            if kind == "organization"
            else ", ".join(PERSON_SOURCES)
        )
        problems.append(("source", f"unknown source {source!r} for {kind}s; known: {known}"))
        return problems
    wanted = standard.get(name or "") if is_standard else None
    accepts = frozenset({wanted}) if wanted else TYPE_ACCEPTS.get(type_ or "", frozenset())
    if accepts and got not in accepts:
        target = f"standard field {name!r}" if is_standard else f"a {type_} field"
        problems.append(("source", f"{source!r} holds a {got} value, which {target} cannot take"))
    if entry.get("match_key") is True and source != MATCH_KEY_SOURCES[kind]:
        problems.append(
            ("source", f"the match key must take {MATCH_KEY_SOURCES[kind]!r}, the record's identity")
        )
    return problems


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _nested(exc: ValidationError) -> Problems:
    """A nested model's errors as key paths relative to it, with their messages."""
    out: Problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, _RuleViolations):
            out += [((*loc, *sub), message) for sub, message in cause.problems]
        else:
            out.append((loc, _message(error)))
    return out


def schedule_problem(schedule: str) -> str | None:
    """Why ``schedule`` cannot drive a sync, or None: unknown syntax, or two runs under 5 minutes apart.

    The gap is measured between consecutive fire times over a day from the first fire (UTC), so
    irregular lists such as ``0,3 * * * *`` are caught as well as ``*/2``.
    """
    if schedule in ("@once", "@continuous"):
        return f"{schedule} is not a recurring schedule; use a cron expression or @hourly, @daily, ..."
    expression = _PRESETS.get(schedule, schedule)
    if expression.startswith("@"):
        return f"unknown preset {schedule!r}; use one of {', '.join(_PRESETS)} or a cron expression"
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        return f"{schedule!r} is not a 5-field cron expression (minute hour day month weekday) or a preset"
    fires = croniter(expression, datetime(2026, 1, 1, tzinfo=UTC))
    previous: datetime = fires.get_next(datetime)
    end = previous + timedelta(days=1)
    while previous < end:
        current: datetime = fires.get_next(datetime)
        if current - previous < MIN_SCHEDULE_GAP:
            minutes = int((current - previous).total_seconds() // 60)
            return (
                f"{schedule!r} fires {minutes} minute(s) apart; a sync may run at most every "
                f"{int(MIN_SCHEDULE_GAP.total_seconds() // 60)} minutes"
            )
        previous = current
    return None


def parse_mapping(data: Any, source: str = "<mapping>") -> SyncMapping:
    """Validate already-parsed YAML; ``source`` names it in errors."""
    if not isinstance(data, Mapping):
        raise MappingError(source, [("", "the file must hold a mapping of keys (entity, schedule, ...)")])
    try:
        return SyncMapping.model_validate(data)
    except ValidationError as exc:
        raise MappingError(source, _problems(exc, data)) from None


def load_mapping(path: str | Path) -> SyncMapping:
    """Read and check a mapping file; raises :class:`MappingError` for any problem, naming the key."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(source, [("", f"cannot read the file: {exc.strerror or exc}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise MappingError(
            source, [("", f"not valid YAML: {where}{getattr(exc, 'problem', None) or exc}")]
        ) from None
    mapping = parse_mapping(data, source)
    named = Path(path).stem
    if named in DEFAULT_SCHEDULES and named != mapping.entity:
        raise MappingError(
            source,
            [
                (
                    "entity",
                    f"{Path(path).name} declares entity: {mapping.entity}; a file named after an entity maps that entity",
                )
            ],
        )
    return mapping


def _problems(exc: ValidationError, data: Any) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for loc, message in _nested(exc):
        name = _field_name(loc, data)
        out.append((_path(loc), f"{message} (field {name!r})" if name else message))
    return out


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key (check its spelling; the shipped mapping files explain every key)"
    if error["type"] == "missing":
        return "required key is missing"
    return str(error["msg"]).removeprefix("Value error, ")


def _path(loc: Loc) -> str:
    """``("organization", "fields", 3, "options")`` -> ``organization.fields[3].options``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _field_name(loc: Loc, data: Any) -> str | None:
    """The ``name`` of the field entry ``loc`` points into, so a message says which field it means."""
    if len(loc) < 3 or loc[1] != "fields" or not isinstance(loc[2], int):
        return None
    try:
        name = data[loc[0]]["fields"][loc[2]]["name"]
    except (KeyError, IndexError, TypeError):
        return None
    return name if isinstance(name, str) else None
