"""Workday REST ``customerAccounts/v1`` customers: the real resource's shape, including its gaps.

``CustomerView`` carries no address, e-mail, status or last-updated time, and the collection has no
updated-since filter; the sandbox keeps those gaps so a connector cannot come to rely on REST alone.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ml_connector.sandbox.workday.records import Customer, Reference
from ml_connector.sandbox.workday.tenant import Tenant

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
INVALID_TOKEN = {"error": "invalid_token", "error_description": "The access token is invalid or has expired"}


def invalid_token() -> JSONResponse:
    return JSONResponse(
        INVALID_TOKEN, status_code=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
    )


def _validation_error(message: str) -> JSONResponse:
    return JSONResponse({"error": "invalid request", "errors": [{"error": message}]}, status_code=400)


def _instance(ref: Reference, href: str) -> dict[str, str]:
    return {"id": ref.wid, "descriptor": ref.descriptor, "href": href}


def customer_view(customer: Customer, base: str) -> dict[str, Any]:
    """One ``CustomerView``; scores and balance are derived from the WID so they stay stable."""
    wid = customer.reference.wid
    seed = int(wid[:8], 16)
    currency = customer.currency.ids[0][1]
    view: dict[str, Any] = {
        "id": wid,
        "descriptor": customer.entity.name,
        "href": f"{base}/customers/{wid}",
        "name": customer.entity.name,
        "category": _instance(customer.category, f"{base}/values/customerCategory/{customer.category.wid}"),
        "paymentTerms": _instance(
            customer.payment_terms, f"{base}/values/paymentTerms/{customer.payment_terms.wid}"
        ),
        "groups": [{"id": g.wid, "descriptor": g.descriptor} for g in customer.groups],
        "totalBalance": {"value": round((seed % 5_000_000) / 100, 2), "currency": currency},
        "satisfactionScore": seed % 11,
        "compositeRiskScore": 1 + seed % 5,
        "commercialCreditScore": 1 + (seed >> 4) % 100,
    }
    primary = next((p for p in customer.entity.contact.phones if p.usage.primary), None)
    if primary is not None:
        view["primaryPhone"] = primary.formatted
    if customer.credit_limit is not None:
        view["creditLimit"] = {"value": customer.credit_limit, "currency": currency}
    return view


def _guard(request: Request) -> tuple[Tenant, str] | Response:
    tenant: Tenant = request.app.state.tenant
    if request.path_params["tenant"] != tenant.name:
        return JSONResponse({"error": "Resource not found."}, status_code=404)
    if tenant.bearer_state(request.headers.get("authorization")) != "valid":
        return invalid_token()
    base = f"{str(request.base_url).rstrip('/')}/ccx/api/customerAccounts/v1/{tenant.name}"
    return tenant, base


def _int_param(request: Request, name: str, default: int, low: int, high: int | None) -> int | str:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        return f"The value '{raw}' is not valid for {name}: it must be an integer."
    if value < low or (high is not None and value > high):
        limit = f"between {low} and {high}" if high is not None else f"at least {low}"
        return f"The value {value} is not valid for {name}: it must be {limit}."
    return value


async def list_customers(request: Request) -> Response:
    guarded = _guard(request)
    if isinstance(guarded, Response):
        return guarded
    tenant, base = guarded
    limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int_param(request, "offset", 0, 0, None)
    for value in (limit, offset):
        if isinstance(value, str):
            return _validation_error(value)
    assert isinstance(limit, int) and isinstance(offset, int)
    rows = [v.record for v in tenant.store.customers(tenant.store.now())]
    name = request.query_params.get("name")
    if name:
        needle = name.casefold()
        rows = [c for c in rows if needle in c.entity.name.casefold()]
    page = rows[offset : offset + limit]
    return JSONResponse({"total": len(rows), "data": [customer_view(c, base) for c in page]})


async def get_customer(request: Request) -> Response:
    """One customer by WID, or by a reference ID in Workday's ``Type=Value`` form."""
    guarded = _guard(request)
    if isinstance(guarded, Response):
        return guarded
    tenant, base = guarded
    raw: str = request.path_params["id"]
    id_type, sep, value = raw.partition("=")
    lookup = (id_type, value) if sep else ("WID", raw)
    found = tenant.store.find("customer", *lookup, tenant.store.now())
    if found is None:
        return JSONResponse(
            {"error": "Resource not found.", "errors": [{"error": "Resource not found."}]}, 404
        )
    return JSONResponse(customer_view(found.record, base))
