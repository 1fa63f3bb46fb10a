"""The Workday sandbox server: OAuth2, SOAP (WWS), REST customers and RaaS over one tenant store.

Routes (``{tenant}`` must be the configured tenant):

- ``POST /ccx/oauth2/{tenant}/token`` - refresh-token grant.
- ``POST|GET(?wsdl) /ccx/service/{tenant}/{Revenue_Management|Resource_Management}/{version}`` - SOAP.
- ``GET /ccx/api/customerAccounts/v1/{tenant}/customers[/{id}]`` - REST customers.
- ``GET /ccx/service/customreport2/{tenant}/{owner}/{report}`` - RaaS reports.
- ``POST /_sandbox/workday/mutate``, ``GET /_sandbox/workday/summary`` - sandbox control.

Throttling is Workday's posture: REST and RaaS answer 429, SOAP answers HTTP 500.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ml_connector.sandbox.config import SandboxConfig
from ml_connector.sandbox.control import CONTROL_PREFIX, ControlPlane, FaultSpec
from ml_connector.sandbox.oauth import TokenIssuer
from ml_connector.sandbox.workday import auth, raas, rest, soap
from ml_connector.sandbox.workday.store import MutationSpec, WorkdayStore
from ml_connector.sandbox.workday.tenant import Tenant, Throttle

SOAP_PATH = "/ccx/service/{tenant}/{service}/{version}"
RAAS_PATH = "/ccx/service/customreport2/{tenant}/{owner}/{report}"
REST_BASE = "/ccx/api/customerAccounts/v1/{tenant}"

Endpoint = Callable[[Request], Awaitable[Response]]
_HTTP_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _is_soap(route_key: str) -> bool:
    return route_key.split(" ", 1)[-1].startswith("/ccx/service/{tenant}/")


def status_response(fault: FaultSpec, route_key: str) -> Response:
    """An injected error status as each API family shows it.

    SOAP sits behind Workday's load balancer: a gateway status (502/503/504) or a bare 500 arrives as an
    HTML page, not a SOAP envelope. REST/RaaS errors are JSON ``{"error": ...}``.
    """
    if _is_soap(route_key):
        reason = _HTTP_REASONS.get(fault.status, "Error")
        html = (
            f"<html><head><title>{fault.status} {reason}</title></head><body><h1>{reason}</h1></body></html>"
        )
        return HTMLResponse(html, status_code=fault.status)
    message = (
        "Too many requests" if fault.status == 429 else _HTTP_REASONS.get(fault.status, "Request failed")
    )
    return JSONResponse({"error": message}, status_code=fault.status)


def expired_token_response(fault: FaultSpec, route_key: str) -> Response:
    if _is_soap(route_key):
        return soap.auth_fault_response()
    return rest.invalid_token()


def _throttled_json(handler: Endpoint) -> Endpoint:
    """Wrap a REST/RaaS handler with Workday's 429 (JSON body, no Retry-After contract)."""

    async def wrapped(request: Request) -> Response:
        tenant: Tenant = request.app.state.tenant
        if not tenant.throttle.allow():
            return JSONResponse({"error": "Too many requests. Please try again later."}, status_code=429)
        return await handler(request)

    return wrapped


async def mutate(request: Request) -> Response:
    tenant: Tenant = request.app.state.tenant
    try:
        spec = MutationSpec.model_validate(await request.json())
    except (ValueError, ValidationError) as exc:
        return JSONResponse({"error": f"invalid mutation: {exc}"}, status_code=400)
    return JSONResponse(tenant.store.mutate(spec))


async def summary(request: Request) -> Response:
    tenant: Tenant = request.app.state.tenant
    return JSONResponse(tenant.store.summary())


def build_workday_app(config: SandboxConfig) -> Starlette:
    creds = config.workday
    issuer = TokenIssuer(
        client_id=creds.client_id,
        client_secret=creds.client_secret,
        refresh_token=creds.refresh_token,
        ttl_s=config.access_token_ttl_s,
        rotate=config.rotate_refresh_tokens,
    )
    tenant = Tenant(
        config=config,
        store=WorkdayStore(config.seed, config.customers, config.suppliers, config.worktag_types),
        issuer=issuer,
        throttle=Throttle(config.workday_max_rps),
    )
    control = ControlPlane(
        "workday",
        status_response=status_response,
        expired_token_response=expired_token_response,
        latency_ms=config.latency_ms,
    )
    control.attach_issuer(issuer)
    control.on_reset(tenant.store.reset)
    control.on_reset(tenant.throttle.reset)
    control.on_stats(lambda: {"tenant": tenant.name})
    routes: list[BaseRoute] = [
        Route(f"{CONTROL_PREFIX}/workday/mutate", mutate, methods=["POST"]),
        Route(f"{CONTROL_PREFIX}/workday/summary", summary, methods=["GET"]),
        Route("/ccx/oauth2/{tenant}/token", auth.token, methods=["POST"]),
        Route(RAAS_PATH, _throttled_json(raas.report), methods=["GET"]),
        Route(f"{REST_BASE}/customers", _throttled_json(rest.list_customers), methods=["GET"]),
        Route(f"{REST_BASE}/customers/{{id}}", _throttled_json(rest.get_customer), methods=["GET"]),
        *(
            Route(f"/ccx/service/{{tenant}}/{service}/{{version}}", soap.endpoint, methods=["GET", "POST"])
            for service in soap.SERVICES
        ),
        Route(SOAP_PATH, soap.endpoint, methods=["GET", "POST"]),
    ]
    app = control.build_app(routes)
    app.state.tenant = tenant
    return app
