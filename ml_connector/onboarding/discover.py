"""``ml-connector discover``: what a tenant's records hold, so its mapping is written from data, not guessed.

It reads the first records of an entity through the Workday hook (the extract's own paging) and their
contacts, then lists what a mapping can use: worktag types with example values and how many records
carry each, categories, payment terms, currencies, regions, statuses, contacts per record. ``--write``
turns that into a starter mapping file for the user to review. Other commands (``doctor``) check a
mapping against a sample with :func:`mapping_coverage`.

The Workday hook, and Airflow with it, is imported only when the command runs, not when the parser is built.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ml_connector.onboarding.sample import (
    DEFAULT_SAMPLE,
    CoverageWarning,
    Discovery,
    Sample,
    mapping_coverage,
    read_sample,
    summarize,
)
from ml_connector.vocabulary import ENTITIES

if TYPE_CHECKING:
    from ml_connector.onboarding.sample import Count

__all__ = [
    "CoverageWarning",
    "Discovery",
    "Sample",
    "add_discover_parser",
    "mapping_coverage",
    "read_sample",
    "render",
    "run_discover",
    "summarize",
]

PROG = "ml-connector discover"
SHOWN = 8  # values listed per kind in the text report


def add_discover_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``discover`` on the ``ml-connector`` parser."""
    p = sub.add_parser(
        "discover",
        help="list what a sample of the tenant's records holds, and write a starter mapping from it",
        description=(
            "Read the first records of an entity (and their contacts) from Workday and list what a "
            "mapping can use: worktag types with example values and the share of records carrying each, "
            "categories, payment terms, currencies, regions, statuses and contacts per record. With "
            "--write, also write a starter mapping file that maps what was found, for you to review."
        ),
    )
    p.add_argument("--entity", required=True, choices=("customers", "suppliers"), help="what to sample")
    p.add_argument(
        "--sample",
        type=_positive,
        default=DEFAULT_SAMPLE,
        metavar="N",
        help=f"how many records to read, from the first (default {DEFAULT_SAMPLE})",
    )
    p.add_argument(
        "--conn-id",
        default="workday_default",
        help="the Airflow connection to Workday (default workday_default)",
    )
    p.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or json")
    p.add_argument(
        "--write",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write a starter mapping here, e.g. include/mappings/customers.yaml",
    )
    p.add_argument("--force", action="store_true", help="with --write: replace an existing file")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number of records, e.g. 500, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def run_discover(args: argparse.Namespace) -> int:
    """Sample, report, and write the starter mapping when asked; a user's error is one line on stderr
    and status 1, never a traceback."""
    from airflow.sdk.exceptions import AirflowException

    from ml_connector.errors import ConnectorError
    from ml_connector.hooks.workday import WorkdayHook
    from ml_connector.onboarding.starter import starter_mapping, write_starter

    target: Path | None = args.write
    try:
        if target is not None:
            _check_target(target, args.entity, args.force)
        print(
            f"Reading the first {args.sample} {args.entity} from Workday connection '{args.conn_id}', then "
            "every contact page (Workday cannot filter contacts) ...",
            file=sys.stderr,
            flush=True,
        )
        hook = WorkdayHook(args.conn_id)
        try:
            sample = read_sample(hook, args.entity, args.sample)
        finally:
            hook.close()
        found = summarize(sample)
        if target is not None:
            write_starter(target, starter_mapping(found, conn_id=args.conn_id), force=args.force)
    except AirflowException as exc:
        print(
            f"{PROG}: {exc}; define the Workday connection (AIRFLOW_CONN_{args.conn_id.upper()} or "
            "`airflow connections add`) or pass --conn-id",
            file=sys.stderr,
        )
        return 1
    except (ConnectorError, ValueError, OSError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    if args.format == "json":
        out = found.to_json()
        out["written"] = str(target) if target is not None else None
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        print(render(found, sample_size=args.sample, conn_id=args.conn_id))
        if target is not None:
            print(
                f"\nWrote a starter mapping to {target}: review the lines marked REVIEW, then run "
                "`ml-connector doctor`."
            )
    return 0


def _check_target(path: Path, entity: str, force: bool) -> None:
    """Refuse a write that would replace a file or that the DAG would not load, before reading Workday."""
    if path.exists() and not force:
        raise FileExistsError(f"{path} already exists; pass --force to replace it, or choose another path")
    other = {"customers": "suppliers", "suppliers": "customers"}[entity]
    if path.stem == other:
        raise ValueError(f"--write {path}: a file named {path.name} maps {other}; name it {entity}.yaml")


# -- the text report ---------------------------------------------------------------------------------------
def render(found: Discovery, *, sample_size: int | None = None, conn_id: str = "workday_default") -> str:
    """The report for people: what was sampled, then each kind of value with counts and shares."""
    noun = ENTITIES[found.entity].noun
    asked = f" (asked for {sample_size})" if sample_size is not None and sample_size != found.records else ""
    lines = [
        f"Sampled {found.records} {noun}s{asked} from Workday connection '{conn_id}' over {found.api or '-'}, "
        f"with {found.contacts} contacts."
    ]
    if found.unreadable:
        lines.append(
            f"{found.unreadable} record(s) could not be read and were set aside (the sync logs them)."
        )
    lines += ["", "Worktag types (a mapping reads one as source worktags.<TYPE>):"]
    if not found.worktags:
        lines.append(f"  none: no sampled {noun} carries a worktag")
    width = max((len(w.type_id) for w in found.worktags), default=0)
    for w in found.worktags:
        guess = f"  looks like {w.role}" if w.role else ""
        lines.append(
            f"  {w.type_id:<{width}}  {w.count} of {found.records} ({w.share:.0%}), {w.distinct} value(s), "
            f"e.g. {', '.join(w.examples)}{guess}"
        )
    for source, title in (
        ("category", "Categories"),
        ("payment_terms", "Payment terms"),
        ("currency", "Currencies"),
        ("region_code", "Regions"),
        ("country_code", "Countries"),
        ("status", "Statuses"),
        ("groups", "Groups"),
    ):
        lines += ["", f"{title} (source {source}):", f"  {_counts(found.values.get(source, ()))}"]
    lines += ["", f"Contacts per {noun}:", f"  {_histogram(found)}"]
    carried = ", ".join(
        f"{source} {count / found.records:.0%}" for source, count in found.sources.items() if found.records
    )
    lines += ["", "Share of sampled records carrying each source:", f"  {carried or '-'}"]
    if found.contacts:
        persons = ", ".join(f"{s} {n / found.contacts:.0%}" for s, n in found.person_sources.items())
        lines += ["Share of their contacts carrying each person source:", f"  {persons}"]
    return "\n".join(lines)


def _counts(counts: tuple[Count, ...]) -> str:
    if not counts:
        return "none found"
    shown = [
        f"{c.value}{f' ({c.label})' if c.label else ''} {c.count} ({c.share:.0%})" for c in counts[:SHOWN]
    ]
    more = f", and {len(counts) - SHOWN} more" if len(counts) > SHOWN else ""
    return ", ".join(shown) + more


def _histogram(found: Discovery) -> str:
    if not found.records:
        return "-"
    parts = [f"{n} contact(s): {records}" for n, records in sorted(found.contacts_per_record.items())]
    return f"{', '.join(parts)}; {found.contacts / found.records:.1f} on average"
