"""Doctor's Workday checks: the connection, the token refresh, the WSDLs, one smallest read of every
operation the selected DAGs use, the API version, and the tenant's clock.

Everything goes through :class:`~ml_connector.hooks.workday.WorkdayHook`, as the DAG tasks do; the reads
fetch one record each, and their ``Total_Results`` (or a REST total, a report's rows) feed the estimate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from ml_connector.http.retry import RetryPolicy
from ml_connector.onboarding.checks import Check, describe, fail, ok, skip, warn
from ml_connector.onboarding.doctor_credentials import connected, refreshed
from ml_connector.vocabulary import Entity

if TYPE_CHECKING:
    from ml_connector.hooks.workday import WorkdayHook

AREA = "workday"
Source = Literal["customers", "suppliers", "contacts"]
# A clock further off than this is worth a look; further off than a mapping's overlap can lose records.
CLOCK_WARN_S = 30.0
VERSION_REFUSED = "invalid for the requested operation"
PERMISSION_FIX = (
    "give the security group of the connection's account (the ISU, or the API client's user) Get access "
    "to the domain of {operation} (Workday task: View Security for Securable Item), then Activate Pending "
    "Security Policy Changes"
)


@dataclass
class WorkdayFindings:
    """What the Workday checks found that later checks use: how many records each source holds."""

    checks: list[Check] = field(default_factory=list)
    totals: dict[Source, int | None] = field(default_factory=dict)


def workday_checks(
    conn_id: str, entities: Iterable[Entity], overlap_minutes: int, policy: RetryPolicy
) -> WorkdayFindings:
    """All Workday checks of the DAGs of ``entities``; a check that cannot run says why (skipped)."""
    from ml_connector.hooks.workday import WorkdayHook

    found = WorkdayFindings()
    hook = WorkdayHook(conn_id, retry_policy=policy)
    try:
        _run(hook, conn_id, list(entities), overlap_minutes, found)
    finally:
        hook.close()
    return found


def _run(
    hook: WorkdayHook, conn_id: str, entities: list[Entity], overlap_minutes: int, found: WorkdayFindings
) -> None:
    checks = found.checks
    config = connected(
        AREA,
        conn_id,
        lambda: hook.config,
        lambda c: (
            f"'{conn_id}': tenant {c.tenant} at {c.base_url}, {c.auth_kind}, API {c.api_version}, "
            f"customers from {c.customers_source}, suppliers from {c.suppliers_source}"
        ),
        checks,
    )
    if config is None:
        return
    oauth_token = config.refresh_token if config.auth_kind == "oauth2_refresh_token" else None
    if not refreshed(AREA, hook, conn_id, oauth_token, checks):
        checks.append(skip(AREA, "operations", "not tried: no valid credential"))
        return
    sources: list[Source] = [*entities, "contacts"]
    _wsdls(hook, sources, checks)
    answered = False
    for source in sources:
        check = _operation(hook, source, found)
        answered = answered or check.status == "ok"
        checks.append(check)
    if answered:
        checks.append(ok(AREA, "API version", f"{config.api_version} is served by tenant {config.tenant}"))
    checks.append(_clock(hook.clock_offset_s(), overlap_minutes))


def _wsdls(hook: WorkdayHook, sources: list[Source], checks: list[Check]) -> None:
    from ml_connector.hooks.workday import RESOURCE, REVENUE
    from ml_connector.hooks.workday_config import Service

    config = hook.config
    services: dict[Service, None] = {}
    for source in sources:
        if source == "contacts" or (source == "customers" and config.customers_source.kind == "soap"):
            services[REVENUE] = None
        elif source == "suppliers" and config.suppliers_source.kind == "soap":
            services[RESOURCE] = None
    for service in services:
        try:
            where = hook.check_wsdl(service)
        except Exception as exc:
            checks.append(
                fail(
                    AREA,
                    f"WSDL {service}",
                    describe(exc),
                    f"check that the tenant serves API {config.api_version} (extra api_version) and that "
                    "extra wsdl_location, if set, points at a readable WSDL",
                )
            )
            continue
        checks.append(ok(AREA, f"WSDL {service}", f"loads from {where}"))


def _operation(hook: WorkdayHook, source: Source, found: WorkdayFindings) -> Check:
    from ml_connector.hooks.workday_errors import NOT_AUTHORIZED

    name = f"read {source}"
    try:
        operation, total = hook.count_records(source)
    except Exception as exc:
        message = describe(exc)
        operation = _operation_name(hook, source)
        if NOT_AUTHORIZED in message.casefold():
            return fail(
                AREA,
                name,
                f"{operation} is not allowed for connection '{hook.workday_conn_id}': {message}",
                PERMISSION_FIX.format(operation=operation),
            )
        if VERSION_REFUSED in message:
            return fail(
                AREA,
                name,
                f"{operation}: {message}",
                f"set extra api_version to a version the tenant serves (now {hook.config.api_version})",
            )
        return fail(AREA, name, f"{operation}: {message}")
    found.totals[source] = total
    held = f"{total:,} records" if total is not None else "an unknown number of records"
    return ok(AREA, name, f"{operation} answers one page; the tenant holds {held}")


def _operation_name(hook: WorkdayHook, source: Source) -> str:
    operations = {
        "customers": "Get_Customers",
        "suppliers": "Get_Suppliers",
        "contacts": "Get_Business_Entity_Contacts",
    }
    try:
        config = hook.config
    except Exception:
        return operations[source]
    chosen = {"customers": config.customers_source, "suppliers": config.suppliers_source}.get(source)
    return operations[source] if chosen is None or chosen.kind == "soap" else f"{source} via {chosen}"


def _clock(offset: float | None, overlap_minutes: int) -> Check:
    name = "clock"
    if offset is None:
        return warn(
            AREA,
            name,
            "Workday's answers carried no HTTP Date header, so its clock could not be compared",
            "nothing to do unless incremental runs miss changes; then compare the tenant's time with this "
            "machine's",
        )
    side = "ahead of" if offset > 0 else "behind"
    gap = f"the tenant's clock is {abs(offset):.0f} s {side} this machine's (by its HTTP Date header)"
    fix = "synchronise this machine's clock (NTP, e.g. chrony or systemd-timesyncd)"
    if abs(offset) > overlap_minutes * 60:
        return fail(
            AREA,
            name,
            f"{gap}: more than the {overlap_minutes} minutes of overlap between runs, so records saved near "
            "a window's end can be missed",
            fix,
        )
    if abs(offset) > CLOCK_WARN_S:
        return warn(
            AREA, name, f"{gap}; runs overlap by {overlap_minutes} minutes, which still covers it", fix
        )
    return ok(AREA, name, f"{gap}, well within the {overlap_minutes} minutes runs overlap")
