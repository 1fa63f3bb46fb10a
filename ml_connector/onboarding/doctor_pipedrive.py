"""Doctor's Pipedrive checks: the credential, the account's real limits against the connection's plan
and seats, and what the field definitions step would create or refuse for each mapping.

The limits come from the answer to ``GET /v1/users/me``: ``x-ratelimit-limit`` is the burst window the
plan gives this kind of credential, ``x-daily-ratelimit-token-limit`` the company's daily token budget.
A connection that names another plan or seat count paces at the wrong rate and budgets the wrong pool.
Only GETs are sent (users/me and the two field lists per mapping).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ml_connector.http.retry import RetryPolicy
from ml_connector.onboarding.checks import Check, describe, fail, ok, skip, warn
from ml_connector.onboarding.doctor_credentials import connected, refreshed
from ml_connector.pipedrive_limits import (
    BASE_DAILY_TOKENS,
    BURST_LIMITS,
    PLAN_MULTIPLIER,
    WINDOW_S,
    daily_token_budget,
)

if TYPE_CHECKING:
    from ml_connector.hooks.pipedrive import PipedriveHook
    from ml_connector.hooks.pipedrive_config import PipedriveConfig
    from ml_connector.mapping import SyncMapping
    from ml_connector.staging.area import StagingArea

AREA = "pipedrive"
FIELD_FIX = "edit the mapping file, or the field in Pipedrive (Settings > Data fields), as the message says"


@dataclass
class PipedriveFindings:
    """What the Pipedrive checks found that the estimate uses: the daily budget, what is left today,
    and the reserve the connection keeps."""

    checks: list[Check] = field(default_factory=list)
    daily_limit: int | None = None
    remaining_today: int | None = None
    reserve: int = 0


def pipedrive_checks(
    conn_id: str,
    mappings: dict[str, SyncMapping],
    area: StagingArea,
    policy: RetryPolicy,
) -> PipedriveFindings:
    """The credential, the limits, and the fields of each mapping (keyed by DAG id)."""
    from ml_connector.hooks.pipedrive import PipedriveHook

    found = PipedriveFindings()
    hook = PipedriveHook(conn_id, retry_policy=policy)
    try:
        if _account(hook, conn_id, found):
            for dag_id, mapping in mappings.items():
                found.checks += field_checks(hook, dag_id, mapping, area)
        else:
            found.checks.append(skip("fields", "field definitions", "not checked: no working credential"))
    finally:
        hook.close()
    return found


def _account(hook: PipedriveHook, conn_id: str, found: PipedriveFindings) -> bool:
    checks = found.checks
    config = connected(
        AREA,
        conn_id,
        lambda: hook.config,
        lambda c: (
            f"'{conn_id}': {c.base_url}, {c.auth_kind}, plan {c.plan}, {c.seats} seat(s), "
            f"reserve {c.budget_reserve:,} tokens"
        ),
        checks,
    )
    if config is None:
        return False
    found.reserve = config.budget_reserve
    oauth_token = config.refresh_token if config.auth_kind == "oauth2" else None
    if not refreshed(AREA, hook, conn_id, oauth_token, checks):
        return False
    try:
        user, headers = hook.whoami()
    except Exception as exc:
        checks.append(fail(AREA, "credential", describe(exc)))
        return False
    checks.append(
        ok(
            AREA,
            "credential",
            f"accepted: company '{user.get('company_name')}' ({user.get('company_domain')}), user "
            f"{user.get('id')}",
        )
    )
    checks += limit_checks(config, headers, found)
    return True


def _header(headers: dict[str, str], name: str) -> int | None:
    try:
        return int(float(headers[name]))
    except (KeyError, ValueError):
        return None


def limit_checks(config: PipedriveConfig, headers: dict[str, str], found: PipedriveFindings) -> list[Check]:
    """The plan by the burst limit, and plan x seats by the daily budget, as Pipedrive states them."""
    auth = config.burst_auth_kind
    burst = _header(headers, "x-ratelimit-limit")
    daily = _header(headers, "x-daily-ratelimit-token-limit")
    found.daily_limit = daily if daily is not None else daily_token_budget(config.plan, config.seats)
    found.remaining_today = _header(headers, "x-daily-ratelimit-token-remaining")
    plans = BURST_LIMITS[auth]
    actual_plan = next((plan for plan, limit in plans.items() if limit == burst), None)
    checks: list[Check] = []
    if burst is None:
        checks.append(
            warn(
                AREA,
                "plan",
                "Pipedrive sent no x-ratelimit-limit header, so the plan could not be compared",
                f"make sure extra plan ({config.plan}) is the company's plan (Pipedrive: Settings > Billing)",
            )
        )
    elif burst != plans[config.plan]:
        pace = (
            "faster than the account allows, into 429s"
            if burst < plans[config.plan]
            else "slower than it could"
        )
        fix = (
            f'set the connection\'s extra plan to "{actual_plan}"'
            if actual_plan
            else "set the connection's extra plan to the company's plan (Pipedrive: Settings > Billing)"
        )
        checks.append(
            fail(
                AREA,
                "plan",
                f"the connection says plan {config.plan} ({plans[config.plan]} requests per {WINDOW_S:g} s "
                f"with {auth}) but Pipedrive allows {burst}"
                + (f", which is plan {actual_plan}" if actual_plan else "")
                + f": the sync would pace {pace}",
                fix,
            )
        )
    else:
        checks.append(
            ok(AREA, "plan", f"{config.plan}: {burst} requests per {WINDOW_S:g} s, as Pipedrive states")
        )
    checks.append(_daily_check(config, daily, actual_plan or config.plan))
    return checks


def _daily_check(config: PipedriveConfig, daily: int | None, plan: str) -> Check:
    expected = daily_token_budget(config.plan, config.seats)
    said = f"plan {config.plan} x {config.seats} seat(s) gives {expected:,} tokens a day"
    if daily is None:
        return warn(
            AREA,
            "daily budget",
            f"Pipedrive sent no x-daily-ratelimit-token-limit header (it is undocumented); {said}, which the "
            "budget is counted from",
            "make sure extra seats is the company's number of paid seats",
        )
    if daily == expected:
        return ok(AREA, "daily budget", f"{daily:,} tokens a day, as {said}")
    per_seat = BASE_DAILY_TOKENS * PLAN_MULTIPLIER[plan]
    seats, rest = divmod(daily, per_seat)
    settings = []
    if plan != config.plan:
        settings.append(f'plan to "{plan}"')
    if rest == 0 and seats != config.seats:
        settings.append(f"seats to {seats}")
    fix = (
        f"set the connection's extra {' and '.join(settings)}"
        if settings and rest == 0
        else "set extra plan and seats to the company's (Pipedrive: Settings > Billing; bought top-ups are "
        "not counted by plan x seats)"
    )
    return fail(
        AREA,
        "daily budget",
        f"Pipedrive's daily budget is {daily:,} tokens but {said}: the budget, its reserve and the estimate "
        "would be wrong",
        fix,
    )


def field_checks(hook: PipedriveHook, dag_id: str, mapping: SyncMapping, area: StagingArea) -> list[Check]:
    """What ``validate_field_definitions`` would do for ``mapping``: every refusal, else what it creates."""
    from ml_connector.fields import FieldDefinitionError, plan_field_definitions

    refusals: list[FieldDefinitionError] = []
    name = "field definitions"
    try:
        plan = plan_field_definitions(hook, mapping, area, refusals=refusals)
    except Exception as exc:
        return [fail("fields", name, describe(exc), dag_id=dag_id)]
    if refusals:
        return [fail("fields", name, str(exc), FIELD_FIX, dag_id=dag_id) for exc in refusals]
    changes = plan.changes()
    creation = f"; the first run creates: {'; '.join(changes)}" if changes else "; nothing to create"
    return [
        ok(
            "fields",
            name,
            f"{plan.resolved_count()} mapped field(s) exist in Pipedrive as needed{creation}",
            dag_id=dag_id,
        )
    ]
