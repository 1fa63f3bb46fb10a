"""A sample of a tenant's records, what it holds, and whether a mapping's sources find anything in it.

Tenants configure Workday their own way: worktag types are named as each tenant named them
(``CUSTOM_WORKTAG_1`` rather than ``INDUSTRY``), categories and payment terms differ. A mapping written
blind then syncs empty fields without a word. :func:`read_sample` reads the first records the way the
extract does, :func:`summarize` says what they carry (by the names a mapping's ``source`` uses, since
values are read through the transform's views), and :func:`mapping_coverage` names every mapped source
no sampled record carries.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from ml_connector.mapping import ORGANIZATION_SOURCES, PERSON_SOURCES, WORKTAG_PREFIX, SyncMapping
from ml_connector.models.workday import WorkdayContact, WorkdayCustomer, WorkdaySupplier
from ml_connector.transform.views import View, organization_view, person_view
from ml_connector.vocabulary import ENTITIES, Entity, RecordKind

if TYPE_CHECKING:
    from ml_connector.hooks.workday import WorkdayHook

Organization = WorkdayCustomer | WorkdaySupplier
DEFAULT_SAMPLE = 500
EXAMPLES = 5  # example values shown per worktag type
# Sources every record has by construction, or that say nothing about the tenant's setup.
_NOT_INTERESTING = frozenset({"org_key", "workday_id", "name", "roles"})

# Words that give a worktag type's meaning away, in its ID or in its values. A tenant's own names
# (CUSTOM_WORKTAG_1) say nothing, so the values decide; a guess is always marked for review.
ROLE_ID_WORDS: dict[str, tuple[str, ...]] = {
    "industry": ("industr", "sector", "vertical"),
    "segment": ("segment", "tier"),
    "region": ("region", "territor", "geo"),
}
ROLE_WORDS: dict[str, tuple[str, ...]] = {
    "industry": (
        "industr", "sector", "vertical", "manufactur", "software", "health", "retail", "energy",
        "financ", "bank", "insurance", "logistic", "transport", "food", "beverage", "pharma", "telecom",
        "automotive", "construction", "media", "hospitality", "agricult", "chemical", "mining",
        "real estate", "utilit", "technology", "education", "government", "consumer",
    ),
    "segment": ("segment", "tier", "enterprise", "mid-market", "mid market", "midmarket", "small business",
                "smb", "strategic", "key account"),
    "region": (
        "region", "territor", "geo", "amer", "emea", "apac", "latam", "americas", "europe", "asia",
        "pacific", "africa", "middle east", "nordic", "dach", "north america", "south america",
    ),
}  # fmt: skip
ROLES = tuple(ROLE_WORDS)
_ROLE_SHARE = 0.5  # of a type's distinct values that must name its role


@dataclass(frozen=True)
class Sample:
    """The first records of an entity, read as the extract reads them, and the contacts they own."""

    entity: Entity
    records: tuple[Organization, ...]
    contacts: tuple[WorkdayContact, ...] = ()
    unreadable: int = 0  # records the hook had to set aside


def read_sample(
    hook: WorkdayHook, entity: Entity, size: int = DEFAULT_SAMPLE, *, contacts: bool = True
) -> Sample:
    """The first ``size`` records of ``entity`` through the hook's own reader (the extract's paging), then
    (unless ``contacts`` is false) their contacts. Workday cannot filter contacts, so every contact page
    is read and only the sampled records' contacts kept: on a large tenant this is the slow half."""
    if size < 1:
        raise ValueError(f"the sample size must be 1 or more, not {size}")
    spec = ENTITIES[entity]
    pages = cast(Generator[list[Organization], None, None], getattr(hook, spec.reader)(None, None))
    records: list[Organization] = []
    try:
        for page in pages:
            records += page[: size - len(records)]
            if len(records) >= size:
                break
    finally:
        pages.close()
    if not contacts:
        return Sample(entity, tuple(records), (), len(hook.skipped_records))
    ids = {r.workday_id for r in records}
    wids = {r.wid for r in records if r.wid}
    theirs = [
        c
        for page in hook.iter_contacts()
        for c in page
        if getattr(c, spec.contact_parent) in ids
        or (spec.contact_ownership(c.customer_id, c.supplier_id) == "by_parent_wid" and c.parent_wid in wids)
    ]
    return Sample(entity, tuple(records), tuple(theirs), len(hook.skipped_records))


# -- what the sample holds ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Count:
    """One value and how many sampled records carry it; ``label`` explains a code (a region's name)."""

    value: str
    count: int
    share: float
    label: str | None = None


@dataclass(frozen=True)
class WorktagType:
    """A worktag type found on the sampled records: ``worktags.<type_id>`` in a mapping."""

    type_id: str
    count: int  # records carrying it
    share: float
    distinct: int  # different values
    examples: tuple[str, ...]  # the commonest values first
    role: str | None = None  # what it looks like: industry, segment, region (a guess)

    @property
    def source(self) -> str:
        return WORKTAG_PREFIX + self.type_id


@dataclass(frozen=True)
class Discovery:
    """What a mapping can use, as :func:`summarize` found it in a sample."""

    entity: Entity
    records: int
    contacts: int
    unreadable: int
    api: str | None  # soap, rest or raas: what the records were read over
    worktags: tuple[WorktagType, ...]
    values: dict[str, tuple[Count, ...]]  # source -> value counts: category, payment_terms, ...
    sources: dict[str, int]  # organization source -> records carrying it
    person_sources: dict[str, int]  # person source -> contacts carrying it
    contacts_per_record: dict[int, int]  # contacts -> records with that many
    all_values: dict[str, tuple[str, ...]] = field(default_factory=dict)  # every label, for enum options

    def worktag(self, role: str) -> WorktagType | None:
        return next((w for w in self.worktags if w.role == role), None)

    def to_json(self) -> dict[str, Any]:
        """Stable field names for scripts (``--format json``)."""
        return {
            "entity": self.entity,
            "records": self.records,
            "contacts": self.contacts,
            "unreadable": self.unreadable,
            "api": self.api,
            "worktag_types": [
                {
                    "type_id": w.type_id,
                    "source": w.source,
                    "records": w.count,
                    "share": round(w.share, 4),
                    "distinct_values": w.distinct,
                    "examples": list(w.examples),
                    "looks_like": w.role,
                }
                for w in self.worktags
            ],
            "values": {
                source: [
                    {"value": c.value, "records": c.count, "share": round(c.share, 4), "label": c.label}
                    for c in counts
                ]
                for source, counts in self.values.items()
            },
            "sources": self.sources,
            "person_sources": self.person_sources,
            "contacts_per_record": {str(k): v for k, v in sorted(self.contacts_per_record.items())},
        }


# Value lists worth showing, by source; region codes are labelled with the region's name.
VALUE_SOURCES = ("category", "payment_terms", "currency", "status", "region_code", "country_code", "groups")


def summarize(sample: Sample) -> Discovery:
    """Count what the sampled records and contacts carry, by the names a mapping's ``source`` uses."""
    total = len(sample.records)
    views = [organization_view(r) for r in sample.records]
    values: dict[str, tuple[Count, ...]] = {}
    all_values: dict[str, tuple[str, ...]] = {}
    for source in VALUE_SOURCES:
        counter = Counter(v for view in views for v in _values(view.get(source)))
        labels = _region_names(views) if source == "region_code" else {}
        ranked = counter.most_common()
        all_values[source] = tuple(v for v, _ in ranked)
        values[source] = tuple(Count(v, n, _share(n, total), labels.get(v)) for v, n in ranked)
    worktags = _worktag_types(sample.records, total)
    contacts_of = Counter(_parent(c, sample) for c in sample.contacts)
    per_record = Counter(contacts_of.get(r.workday_id, 0) for r in sample.records)
    persons = [person_view(c, None) for c in sample.contacts]
    return Discovery(
        entity=sample.entity,
        records=total,
        contacts=len(sample.contacts),
        unreadable=sample.unreadable,
        api=sample.records[0].source if sample.records else None,
        worktags=worktags,
        values=values,
        sources={s: _carrying(views, s) for s in ORGANIZATION_SOURCES if s not in _NOT_INTERESTING},
        person_sources={
            s: _carrying(persons, s) for s in PERSON_SOURCES if s != "org_key"
        },  # set by the sync
        contacts_per_record=dict(sorted(per_record.items())),
        all_values=all_values,
    )


def _values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v not in (None, "")]
    return [str(value)] if str(value).strip() else []


def _share(count: int, total: int) -> float:
    return count / total if total else 0.0


def _carrying(views: Iterable[View], source: str) -> int:
    return sum(bool(_values(view.get(source))) for view in views)


def _region_names(views: list[View]) -> dict[str, str]:
    names: dict[str, str] = {}
    for view in views:
        if view.get("region_code") and view.get("region"):
            names.setdefault(view["region_code"], view["region"])
    return names


def _parent(contact: WorkdayContact, sample: Sample) -> str | None:
    """The sampled record a contact belongs to: by its ID, else by the parent's WID."""
    parent = getattr(contact, ENTITIES[sample.entity].contact_parent)
    if parent:
        return str(parent)
    return next((r.workday_id for r in sample.records if r.wid and r.wid == contact.parent_wid), None)


def _worktag_types(records: tuple[Organization, ...], total: int) -> tuple[WorktagType, ...]:
    by_type: dict[str, Counter[str]] = {}
    for record in records:
        for type_id, value in record.worktags.items():
            if value and value.strip():
                by_type.setdefault(type_id, Counter())[value.strip()] += 1
    found = [
        WorktagType(
            type_id=type_id,
            count=sum(counter.values()),
            share=_share(sum(counter.values()), total),
            distinct=len(counter),
            examples=tuple(v for v, _ in counter.most_common(EXAMPLES)),
        )
        for type_id, counter in by_type.items()
    ]
    roles = guess_roles(
        {w.type_id: tuple(by_type[w.type_id]) for w in found}, {w.type_id: w.count for w in found}
    )
    found = [
        WorktagType(w.type_id, w.count, w.share, w.distinct, w.examples, roles.get(w.type_id)) for w in found
    ]
    return tuple(sorted(found, key=lambda w: (-w.count, w.type_id)))


def guess_roles(values: dict[str, tuple[str, ...]], counts: dict[str, int]) -> dict[str, str]:
    """Worktag type ID -> industry / segment / region, where its ID or most of its values say so.

    A type whose ID names a role wins it; otherwise the type with the largest share of values naming
    the role, if at least half do (ties: the type more records carry). Each role goes to one type."""
    scores: dict[str, dict[str, float]] = {}
    for type_id, found in values.items():
        scores[type_id] = {}
        for role, words in ROLE_WORDS.items():
            if _names(type_id.replace("_", " "), ROLE_ID_WORDS[role]):
                scores[type_id][role] = 2.0
            elif found:
                scores[type_id][role] = sum(_names(v, words) for v in found) / len(found)
    chosen: dict[str, str] = {}
    for role in ROLES:
        ranked = sorted(
            (t for t in values if t not in chosen and scores[t].get(role, 0.0) >= _ROLE_SHARE),
            key=lambda t: (-scores[t][role], -counts.get(t, 0), t),
        )
        if ranked:
            chosen[ranked[0]] = role
    return chosen


def _names(text: str, words: tuple[str, ...]) -> bool:
    lowered = text.casefold()
    return any(re.search(rf"\b{re.escape(word)}", lowered) for word in words)


# -- a mapping against the sample ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CoverageWarning:
    """A mapped field the sample says will not sync as meant; ``message`` names the field and what was seen."""

    kind: RecordKind
    field: str  # the Pipedrive field's name in the mapping
    source: str
    message: str

    def __str__(self) -> str:
        return self.message


def mapping_coverage(mapping: SyncMapping, sample: Sample) -> list[CoverageWarning]:
    """Warnings for ``mapping`` on ``sample``: a source no sampled record carries (for a worktag, with the
    types the records do carry and their shares), and enum/set values the field would reject because
    they are not among its options and ``create_missing_options`` is false. Empty: nothing to warn of."""
    noun = ENTITIES[sample.entity].noun
    if not sample.records:
        return [
            CoverageWarning("organization", "", "", f"no {noun} was sampled, so no source can be checked")
        ]
    warnings: list[CoverageWarning] = []
    views = [organization_view(r) for r in sample.records]
    seen = ", ".join(f"{w.type_id} ({w.share:.0%})" for w in _worktag_types(sample.records, len(views)))
    for spec in mapping.organization.fields:
        carried = _carrying(views, spec.source)
        if carried == 0:
            if spec.source.startswith(WORKTAG_PREFIX):
                type_id = spec.source.removeprefix(WORKTAG_PREFIX)
                what = f"worktag type {type_id}; types seen: {seen or 'none'}"
            else:
                what = f"a value for source {spec.source}"
            message = f"{spec.name}: no sampled {noun} has {what}"
            warnings.append(CoverageWarning("organization", spec.name, spec.source, message))
        elif spec.type in ("enum", "set") and not spec.create_missing_options:
            options = {o.casefold() for o in spec.options or []}
            unknown = Counter(
                v for view in views for v in _values(view.get(spec.source)) if v.casefold() not in options
            )
            if unknown:
                listed = ", ".join(f"{v!r} ({n})" for v, n in unknown.most_common(EXAMPLES))
                message = (
                    f"{spec.name}: sampled {noun}s carry values that are not among its options and "
                    f"create_missing_options is false, so they would be rejected: {listed}; add them to "
                    "options or set create_missing_options: true"
                )
                warnings.append(CoverageWarning("organization", spec.name, spec.source, message))
    if sample.contacts:
        persons = [person_view(c, None) for c in sample.contacts]
        for spec in mapping.person.fields:
            if spec.source != "org_key" and _carrying(persons, spec.source) == 0:
                message = (
                    f"{spec.name}: no contact of the sampled {noun}s has a value for source {spec.source}"
                )
                warnings.append(CoverageWarning("person", spec.name, spec.source, message))
    return warnings
