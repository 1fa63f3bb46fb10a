"""A starter mapping file written from what a sample holds, for a person to review before the first sync.

It keeps the shipped file's settings and the comments that explain every key, and maps the fields from
the sample: worktag types by the role their values suggest, enum options from the labels found. Every
guess carries a ``REVIEW`` comment. The text is checked with the mapping's own validation before it is
returned, so a written file always loads.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from ml_connector.mapping import parse_mapping
from ml_connector.onboarding.sample import Discovery, WorktagType
from ml_connector.vocabulary import ENTITIES

PACKAGED_MAPPINGS = Path(__file__).resolve().parent.parent / "mappings"
MAX_ENUM_OPTIONS = 50  # more distinct labels than this look like free text: a varchar field
# Pipedrive field names of the roles a worktag type can play. The customers file keeps the shipped
# names; the suppliers file prefixes them, since a supplier's worktags may differ from the customer's.
ROLE_FIELDS: dict[str, str] = {"industry": "industry", "segment": "segment", "region": "sales region"}
_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9 ._/()&+-]*$")


@dataclass(frozen=True)
class _Field:
    source: str
    lines: tuple[str, ...]  # the YAML of one list entry, comments first


def starter_mapping(found: Discovery, *, conn_id: str, written_at: datetime | None = None) -> str:
    """The text of a mapping file for ``found.entity`` that maps what ``found`` holds.

    Raises ValueError when the sample is empty (nothing to map from)."""
    entity, noun = found.entity, ENTITIES[found.entity].noun
    if not found.records:
        raise ValueError(f"no {noun} was sampled, so there is nothing to map from; check the connection")
    moment = (written_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    shipped = (PACKAGED_MAPPINGS / f"{entity}.yaml").read_text(encoding="utf-8")
    header = shipped[: shipped.index("\norganization:\n") + 1]
    intro = [
        f"# Starter mapping written by `ml-connector discover --entity {entity}` on {moment}, from the first",
        f"# {found.records} {noun}s of the Workday connection '{conn_id}' (read over {found.api}) and their "
        f"{found.contacts} contacts.",
        "# Review it before the first sync: each line marked REVIEW is a guess from that sample. Rename fields",
        "# as your Pipedrive account should show them, drop what you do not need, then run `ml-connector doctor`.",
        "#",
    ]
    fields = _organization_fields(found)
    body = ["organization:", "  fields:"]
    for f in fields:
        body += [f"    {line}" for line in f.lines]
    unmapped = _unmapped(found, fields)
    if unmapped:
        note = "Also carried by the sampled records, not mapped here (add a field to sync one): "
        body[:0] = textwrap.wrap(
            note + ", ".join(unmapped) + ".", 106, initial_indent="# ", subsequent_indent="# "
        )
    body += ["", *_person_section(found)]
    text = "\n".join([*intro, header.rstrip("\n"), *body]) + "\n"
    parse_mapping(yaml.safe_load(text), f"the starter mapping for {entity}")  # raises on a bug here
    return text


def write_starter(path: Path, text: str, *, force: bool = False) -> None:
    """Write ``text`` to ``path``; an existing file is only replaced with ``force``."""
    if path.exists() and not force:
        raise FileExistsError(f"{path} already exists; pass --force to replace it, or choose another path")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# -- organization fields -------------------------------------------------------------------------------------
def _organization_fields(found: Discovery) -> list[_Field]:
    entity, noun = found.entity, ENTITIES[found.entity].noun
    share = {s: n / found.records for s, n in found.sources.items()}
    fields = [
        _entry("name", "name", standard=True),
        _entry("address", "primary_address", standard=True),
        _entry("Workday ID", "org_key", type_="varchar", match_key=True),
        _entry("Workday roles", "roles", type_="set", options=["Customer", "Supplier"]),
    ]
    if entity == "suppliers":
        fields.append(_entry("Workday supplier ID", "workday_id", type_="varchar"))
    for source, what in (("category", "category"), ("payment_terms", "payment terms")):
        if share.get(source):
            fields.append(_enum(f"Workday {noun} {what}", source, found, share[source]))
    if share.get("currency"):
        fields.append(_entry(f"Workday {noun} currency", "currency", type_="varchar"))
    if share.get("region_code"):
        fields.append(_entry("Workday region", "region_code", type_="varchar"))
    if share.get("country_code"):
        fields.append(_entry("Workday country", "country_code", type_="varchar"))
    fields += [_worktag_field(w, entity) for w in found.worktags]
    if share.get("status"):
        statuses = _distinct([*found.all_values.get("status", ()), "Active", "Inactive"])
        fields.append(
            _entry(
                f"Workday {noun} status",
                "status",
                type_="enum",
                options=statuses,
                comments=(
                    "REVIEW: the statuses found, plus Active and Inactive (inactive_policy writes it).",
                ),
            )
        )
    return fields


def _enum(name: str, source: str, found: Discovery, share: float) -> _Field:
    labels = _distinct(found.all_values.get(source, ()))
    where = f"{share:.0%} of the sampled records carry one"
    if len(labels) > MAX_ENUM_OPTIONS:
        return _entry(
            name,
            source,
            type_="varchar",
            comments=(
                f"REVIEW: {len(labels)} different values ({where}): a text field, not a list of options.",
            ),
        )
    return _entry(
        name,
        source,
        type_="enum",
        options=labels,
        create_missing=True,
        comments=(
            f"REVIEW: the {len(labels)} labels found ({where}), commonest first; a label the sample did not "
            "hold is added to Pipedrive when a record brings one (create_missing_options).",
        ),
    )


def _worktag_field(worktag: WorktagType, entity: str) -> _Field:
    examples = ", ".join(worktag.examples)
    seen = f"{worktag.share:.0%} of the sampled records carry it, e.g. {examples}"
    if worktag.role is None:
        return _entry(
            f"Workday worktag {worktag.type_id}",
            worktag.source,
            type_="varchar",
            comments=(f"REVIEW: worktag type {worktag.type_id} ({seen}): rename the field or remove it.",),
        )
    label = ROLE_FIELDS[worktag.role]
    name = f"Workday {label}" if entity == "customers" else f"Workday supplier {label}"
    return _entry(
        name,
        worktag.source,
        type_="varchar",
        comments=(f"REVIEW: worktag type {worktag.type_id} looks like the {worktag.role} ({seen}).",),
    )


def _distinct(labels: tuple[str, ...] | list[str]) -> list[str]:
    """Labels in order, each once whatever its case (Pipedrive options are told apart case-blind)."""
    seen: dict[str, str] = {}
    for label in labels:
        seen.setdefault(label.casefold(), label)
    return list(seen.values())


def _unmapped(found: Discovery, fields: list[_Field]) -> list[str]:
    mapped = {f.source for f in fields}
    return [
        f"{source} ({count / found.records:.0%})"
        for source, count in found.sources.items()
        if count and source not in mapped and source not in ("customer_id", "supplier_id", "region")
    ]


# -- persons ---------------------------------------------------------------------------------------------------
def _person_section(found: Discovery) -> list[str]:
    """The contacts' fields as shipped, less those no sampled contact carries (they would stay empty)."""
    missing = [
        s
        for s in ("first_name", "last_name", "emails", "phones")
        if found.contacts and not found.person_sources.get(s)
    ]
    lines = [
        "# Person sources: person_key (the Contact_ID), contact_id, org_key (the organization it belongs to),",
        "# customer_id, supplier_id, name, first_name, last_name, emails, phones (all of them, primary first),",
        "# primary_email, primary_phone.",
    ]
    if not found.contacts:
        lines.append(
            "# REVIEW: the sampled records had no contacts, so these fields are the defaults, unchecked."
        )
    elif missing:
        left_out = ", ".join(missing)
        lines.append(
            f"# REVIEW: no sampled contact carries {left_out}, so the standard field(s) {left_out} are left out;"
        )
        lines.append(
            "# add them back (standard: true, source of the same name) if other contacts carry them."
        )
    lines += ["person:", "  fields:"]
    entries = [
        _entry("name", "name", standard=True),
        *(
            _entry(s, s, standard=True)
            for s in ("first_name", "last_name", "emails", "phones")
            if s not in missing
        ),
        _entry("Workday contact ID", "person_key", type_="varchar", match_key=True),
    ]
    for f in entries:
        lines += [f"    {line}" for line in f.lines]
    return lines


# -- YAML ------------------------------------------------------------------------------------------------------
def _entry(
    name: str,
    source: str,
    *,
    standard: bool = False,
    type_: str | None = None,
    options: list[str] | None = None,
    create_missing: bool = False,
    match_key: bool = False,
    comments: tuple[str, ...] = (),
) -> _Field:
    lines = [
        line for c in comments for line in textwrap.wrap(c, 100, initial_indent="# ", subsequent_indent="# ")
    ]
    lines.append(f"- name: {scalar(name)}")
    if standard:
        lines.append("  standard: true")
    if type_:
        lines.append(f"  type: {type_}")
    lines.append(f"  source: {source}")
    if match_key:
        lines.append("  match_key: true")
    if options is not None:
        lines.append("  options:")
        lines += [f"    - {scalar(o)}" for o in options]
    if create_missing:
        lines.append("  create_missing_options: true")
    return _Field(source, tuple(lines))


def scalar(text: str) -> str:
    """``text`` as a YAML scalar: plain when it reads back as the same string, else double-quoted."""
    if _PLAIN.match(text) and text == text.strip() and yaml.safe_load(text) == text:
        return text
    quoted: str = yaml.safe_dump(text, default_style='"', allow_unicode=True, width=10**9)
    return quoted.strip()
