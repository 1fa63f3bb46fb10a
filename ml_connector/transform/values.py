"""Mapped values of one record and the problems that keep it out of Pipedrive.

Values are what ``transformed_*`` tables carry in ``values``: enum and set values as option labels
(the option IDs are the field module's business), sets as sorted lists, text as stripped strings,
emails and phones as ``[{value, primary, label}]``. A problem is a ``(field, sentence)`` pair; the
sentence says what is wrong and what to do, and never quotes personal data (names, emails, phones),
because it is written to the run's ledger and logs.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ml_connector.mapping import EntityMapping, FieldSpec
from ml_connector.transform.views import View

Problem = tuple[str, str]

# Simple RFC-ish check: one @, no spaces, a dot in the domain, no empty labels.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EMAIL_SOURCES = frozenset({"primary_email"})


def is_email(value: str) -> bool:
    return bool(_EMAIL.match(value)) and len(value) <= 254


def map_values(entity: EntityMapping, view: View, noun: str) -> tuple[dict[str, Any], list[Problem]]:
    """``{field name: value}`` for every mapped field, and every problem found; ``noun`` names the record
    in fixes (``customer``, ``supplier``, ``contact``)."""
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for spec in entity.fields:
        value, problem = _convert(spec, view.get(spec.source), noun)
        values[spec.name] = value
        if problem:
            problems.append((spec.name, problem))
    return values, problems


def _convert(spec: FieldSpec, raw: Any, noun: str) -> tuple[Any, str | None]:
    if spec.standard and spec.name in ("emails", "phones"):
        return _contacts(spec, raw, noun)
    if spec.type == "enum":
        return _enum(spec, raw)
    if spec.type == "set":
        return _set(spec, raw)
    if spec.type == "double":
        return _number(spec, raw)
    text = raw if isinstance(raw, str) and raw else None
    if spec.standard and spec.name == "name" and text is None:
        return None, f'"{spec.name}" is empty; give the {noun} a name in Workday'
    if text is None:
        return None, None
    limit = spec.limit
    if limit is not None and len(text) > limit:
        return text, (
            f'"{spec.name}" is {len(text)} characters long, over the limit of {limit}; shorten it in Workday'
        )
    if spec.source in _EMAIL_SOURCES and not is_email(text):
        return text, f'"{spec.name}" is not a valid email address; correct it in Workday'
    if spec.type == "date" and not _DATE.match(text):
        return text, f'"{spec.name}" is not a date (YYYY-MM-DD); map a date value to this field'
    return text, None


def _contacts(spec: FieldSpec, raw: Any, noun: str) -> tuple[Any, str | None]:
    entries: list[dict[str, Any]] = list(raw or [])
    if spec.name == "emails":
        bad = [i + 1 for i, e in enumerate(entries) if not is_email(e["value"])]
        if bad:
            which = ", ".join(map(str, bad))
            return entries, (
                f'"{spec.name}" holds a malformed email address (entry {which} of {len(entries)}); '
                f"correct it on the {noun} in Workday"
            )
    return entries, None


def _options(spec: FieldSpec) -> dict[str, str]:
    return {o.casefold(): o for o in spec.options or []}


def _label(spec: FieldSpec, value: str, known: dict[str, str]) -> tuple[str, str | None]:
    """The option's own spelling when the value matches one ignoring case; unknown labels are a problem
    unless the mapping lets field validation create them."""
    label = known.get(value.casefold())
    if label is not None:
        return label, None
    if spec.create_missing_options:
        return value, None
    return value, (
        f'"{spec.name}" has the value {value!r}, which is not among the options in the mapping; '
        f"add it to options in the mapping file or set create_missing_options: true"
    )


def _enum(spec: FieldSpec, raw: Any) -> tuple[Any, str | None]:
    if not isinstance(raw, str) or not raw:
        return None, None
    return _label(spec, raw, _options(spec))


def _set(spec: FieldSpec, raw: Any) -> tuple[Any, str | None]:
    items = [raw] if isinstance(raw, str) else list(raw or [])
    known = _options(spec)
    labels: set[str] = set()
    problem = None
    for item in items:
        if isinstance(item, str) and item:
            label, item_problem = _label(spec, item, known)
            labels.add(label)
            problem = problem or item_problem
    return sorted(labels), problem


def _number(spec: FieldSpec, raw: Any) -> tuple[Any, str | None]:
    if raw is None:
        return None, None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        return None, f'"{spec.name}" is not a number; map a numeric value to this field'
    return float(raw), None
