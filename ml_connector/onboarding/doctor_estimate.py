"""Doctor's estimate of the initial sync: records per DAG, the tokens their creates cost, the share of the
daily budget and the days it takes when each day's run stops at the reserve.

Organizations are the entity's records (Workday's ``Total_Results``); persons are at most every business
entity contact (Workday counts them for all entities at once; each sync keeps its own). Creates dominate
an initial load, so the estimate is creates at their documented token cost plus each page of the listing
that looks for records Pipedrive already holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ml_connector.onboarding.checks import Check, ok, skip, warn
from ml_connector.onboarding.doctor_workday import Source
from ml_connector.pipedrive_limits import MAX_PAGE_SIZE, token_costs
from ml_connector.vocabulary import Entity

AREA = "estimate"
NAME = "initial sync"


def tokens_for(organizations: int, persons: int) -> int:
    """Creates of every record, plus a listing page per 500 of each kind."""
    cost = token_costs()
    creates = (
        organizations * cost[("POST", "/api/v2/organizations")] + persons * cost[("POST", "/api/v2/persons")]
    )
    pages = math.ceil(organizations / MAX_PAGE_SIZE) * cost[("GET", "/api/v2/organizations")]
    pages += math.ceil(persons / MAX_PAGE_SIZE) * cost[("GET", "/api/v2/persons")]
    return creates + pages


def estimate_checks(
    totals: Mapping[Source, int | None],
    dags: Mapping[str, Entity],
    daily_limit: int | None,
    reserve: int,
) -> list[Check]:
    """One line per DAG (``dags``: DAG id -> entity) and, for both, one for the shared budget."""
    contacts = totals.get("contacts")
    if daily_limit is None:
        return [skip(AREA, NAME, "no estimate: the Pipedrive budget is unknown (see the Pipedrive checks)")]
    usable = daily_limit - reserve
    checks: list[Check] = []
    all_orgs = 0
    for dag_id, entity in dags.items():
        orgs = totals.get(entity)
        if orgs is None or contacts is None:
            checks.append(
                skip(
                    AREA,
                    NAME,
                    f"no estimate: Workday did not say how many {entity} and contacts it holds",
                    dag_id=dag_id,
                )
            )
            continue
        all_orgs += orgs
        tokens = tokens_for(orgs, contacts)
        checks.append(
            _line(f"{orgs:,} {entity} and up to {contacts:,} contacts", tokens, daily_limit, usable, dag_id)
        )
    if (
        len(dags) > 1
        and contacts is not None
        and len(checks) == len(dags)
        and all(c.status != "skip" for c in checks)
    ):
        tokens = tokens_for(all_orgs, contacts)
        checks.append(
            _line(
                f"both DAGs, one budget: {all_orgs:,} organizations and up to {contacts:,} persons",
                tokens,
                daily_limit,
                usable,
                None,
            )
        )
    return checks


def _line(what: str, tokens: int, daily_limit: int, usable: int, dag_id: str | None) -> Check:
    share = tokens / daily_limit if daily_limit else math.inf
    said = f"{what}: about {tokens:,} tokens, {share:.0%} of the daily {daily_limit:,}"
    if usable <= 0:
        return warn(
            AREA,
            NAME,
            f"{said}; the reserve leaves no tokens for the sync",
            "lower the connection's extra budget_reserve below the daily budget",
            dag_id=dag_id,
        )
    days = max(1, math.ceil(tokens / usable))
    if days == 1:
        return ok(
            AREA,
            NAME,
            f"{said}: done in one day, the reserve of {daily_limit - usable:,} kept",
            dag_id=dag_id,
        )
    return warn(
        AREA,
        NAME,
        f"{said}: about {days} days at {usable:,} tokens a day (the reserve of {daily_limit - usable:,} kept); "
        "each day's run writes up to the reserve and leaves the rest to the next",
        "nothing to do, or add seats or a token top-up in Pipedrive to finish sooner",
        dag_id=dag_id,
    )
