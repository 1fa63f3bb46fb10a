"""The Pipedrive sandbox server: v2 organizations/persons/search, v1 merge, v1+v2 fields, OAuth, users/me.

Every API route goes through one gate (:meth:`PipedriveServer.route`): authenticate, admit under the
rate limits, charge the operation's token cost, run the handler, put the rate-limit headers on
whatever comes back. Test-only knobs live under ``/_sandbox/pipedrive/``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ml_connector.pipedrive_limits import BURST_LIMITS, token_costs
from ml_connector.sandbox.config import SandboxConfig
from ml_connector.sandbox.control import CONTROL_PREFIX, ControlPlane, FaultSpec
from ml_connector.sandbox.oauth import TokenIssuer
from ml_connector.sandbox.pipedrive.auth import authenticate, oauth_token
from ml_connector.sandbox.pipedrive.entities import EntityApi
from ml_connector.sandbox.pipedrive.errors import (
    ApiError,
    cloudflare_forbidden,
    envelope_error,
    rate_limited_response,
    status_body_response,
    unauthorized_response,
)
from ml_connector.sandbox.pipedrive.fields import EntityKind
from ml_connector.sandbox.pipedrive.fieldsapi import FieldsApi
from ml_connector.sandbox.pipedrive.limits import RateLimiter
from ml_connector.sandbox.pipedrive.merge import MergeApi
from ml_connector.sandbox.pipedrive.payload import ok
from ml_connector.sandbox.pipedrive.store import SANDBOX_COMPANY_ID, SANDBOX_USER_NAME, Account
from ml_connector.sandbox.pipedrive.timeline import Timeline

Handler = Callable[[Request], Awaitable[Response]]


class Settings(BaseModel):
    """``POST /_sandbox/pipedrive/settings``: runtime switches tests need (all optional)."""

    model_config = {"extra": "forbid"}

    search_index_lag_s: float | None = Field(default=None, ge=0)
    daily_token_limit: int | None = Field(default=None, ge=0)
    daily_tokens_remaining: int | None = Field(default=None, ge=0)
    enforce_rate_limits: bool | None = None
    burst_enforced: bool | None = None
    ban_after_429s: int | None = Field(default=None, ge=0)
    ban_window_s: float | None = Field(default=None, gt=0)
    ban_s: float | None = Field(default=None, ge=0)


class PipedriveServer:
    """One account, its limiter and OAuth issuer, and the control plane that wraps them."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        creds = config.pipedrive
        self.account = Account(config.seed, config.search_index_lag_s)
        self.limiter = RateLimiter(config.pipedrive_plan, config.pipedrive_seats, config.enforce_rate_limits)
        self.issuer = TokenIssuer(
            client_id=creds.client_id,
            client_secret=creds.client_secret,
            refresh_token=creds.refresh_token,
            ttl_s=config.access_token_ttl_s,
            rotate=config.rotate_refresh_tokens,
            access_prefix="v1u:",
        )
        self.costs = token_costs()
        self.timeline = Timeline()
        self.control = ControlPlane(
            "pipedrive",
            status_response=self.status_response,
            expired_token_response=lambda fault, key: unauthorized_response(),
            latency_ms=config.latency_ms,
        )
        self.control.attach_issuer(self.issuer)
        self.control.on_reset(self.account.reset)
        self.control.on_reset(self.limiter.reset)
        self.control.on_reset(self.timeline.reset)
        self.control.on_stats(self._stats)

    # -- the gate -------------------------------------------------------------------------------------
    def route(self, method: str, path: str, handler: Handler) -> Route:
        cost = self.costs[(method, path)]
        search = path.endswith("/search")

        async def endpoint(request: Request) -> Response:
            caller = authenticate(request, self.config.pipedrive.api_token, self.issuer)
            if caller is None:
                return unauthorized_response()
            decision = self.limiter.admit(caller.kind, caller.token, method, cost, search)
            if decision.status == 403:
                return cloudflare_forbidden()
            if decision.status == 429:
                self.timeline.refused()
                return rate_limited_response(decision.headers)
            self.timeline.admitted(method)
            self.control.count("tokens_spent", cost)
            try:
                response = await handler(request)
            except ApiError as exc:
                response = exc.response
            response.headers.update(decision.headers)
            return response

        return Route(path, endpoint, methods=[method])

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = []
        kinds: tuple[tuple[EntityKind, str], ...] = (("organization", "organizations"), ("person", "persons"))
        for kind, plural in kinds:
            api = EntityApi(self.account, kind)
            base = f"/api/v2/{plural}"
            routes += [
                self.route("GET", f"{base}/search", api.search),
                self.route("GET", base, api.list_records),
                self.route("POST", base, api.create),
                self.route("GET", f"{base}/{{id}}", api.get),
                self.route("PATCH", f"{base}/{{id}}", api.update),
                self.route("DELETE", f"{base}/{{id}}", api.delete),
                self.route("PUT", f"/v1/{plural}/{{id}}/merge", MergeApi(self.account, kind).merge),
            ]
            fields = FieldsApi(self.account, kind)
            v2 = f"/api/v2/{kind}Fields"
            v1 = f"/v1/{kind}Fields"
            routes += [
                self.route("GET", v2, fields.v2_list),
                self.route("POST", v2, fields.v2_create),
                self.route("GET", f"{v2}/{{field_code}}", fields.v2_get),
                self.route("PATCH", f"{v2}/{{field_code}}", fields.v2_update),
                self.route("DELETE", f"{v2}/{{field_code}}", fields.v2_delete),
                self.route("POST", f"{v2}/{{field_code}}/options", fields.v2_add_options),
                self.route("PATCH", f"{v2}/{{field_code}}/options", fields.v2_update_options),
                self.route("DELETE", f"{v2}/{{field_code}}/options", fields.v2_delete_options),
                self.route("GET", v1, fields.v1_list),
                self.route("POST", v1, fields.v1_create),
                self.route("DELETE", v1, fields.v1_bulk_delete),
                self.route("GET", f"{v1}/{{id}}", fields.v1_get),
                self.route("PUT", f"{v1}/{{id}}", fields.v1_update),
                self.route("DELETE", f"{v1}/{{id}}", fields.v1_delete),
            ]
        routes += [
            self.route("GET", "/v1/users/me", self.users_me),
            Route("/oauth/token", self.oauth_token, methods=["POST"]),
            Route(f"{CONTROL_PREFIX}/pipedrive/settings", self.get_settings, methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/pipedrive/settings", self.post_settings, methods=["POST"]),
        ]
        return routes

    # -- plain handlers -------------------------------------------------------------------------------
    async def oauth_token(self, request: Request) -> Response:
        return await oauth_token(request, self.issuer)

    async def users_me(self, request: Request) -> Response:
        creds = self.config.pipedrive
        return ok(
            {
                "id": 1,
                "name": SANDBOX_USER_NAME,
                "default_currency": "EUR",
                "locale": "en_US",
                "lang": 1,
                "email": "admin@sandbox.example",
                "phone": None,
                "activated": True,
                "last_login": "2026-01-01 00:00:00",
                "created": "2026-01-01 00:00:00",
                "modified": None,
                "has_created_company": True,
                "access": [{"app": "sales", "admin": True, "permission_set_id": "sandbox-admin"}],
                "active_flag": True,
                "timezone_name": "UTC",
                "timezone_offset": "+00:00",
                "role_id": 1,
                "icon_url": None,
                "is_you": True,
                "is_deleted": False,
                "company_id": SANDBOX_COMPANY_ID,
                "company_name": "Sandbox Company",
                "company_domain": creds.company_domain,
                "company_country": "US",
                "company_industry": "Software",
                "language": {"language_code": "en", "country_code": "US"},
            }
        )

    # -- control ------------------------------------------------------------------------------------
    def _settings(self) -> dict[str, Any]:
        s = self.limiter.settings
        return {
            "search_index_lag_s": self.account.index.lag_s,
            "daily_token_limit": s.daily_limit,
            "daily_tokens_remaining": self.limiter.daily_remaining(),
            "enforce_rate_limits": s.enforce,
            "burst_enforced": s.burst_enforced,
            "ban_after_429s": s.ban_after_429s,
            "ban_window_s": s.ban_window_s,
            "ban_s": s.ban_s,
            "plan": self.config.pipedrive_plan,
            "burst_limits": {
                kind: limits[self.config.pipedrive_plan] for kind, limits in BURST_LIMITS.items()
            },
        }

    async def get_settings(self, request: Request) -> Response:
        return JSONResponse(self._settings())

    async def post_settings(self, request: Request) -> Response:
        try:
            new = Settings.model_validate(await request.json())
        except (ValueError, ValidationError) as exc:
            return JSONResponse({"error": f"invalid settings: {exc}"}, status_code=400)
        if new.search_index_lag_s is not None:
            self.account.index.lag_s = new.search_index_lag_s
        self.limiter.set_daily(new.daily_token_limit, new.daily_tokens_remaining)
        s = self.limiter.settings
        for name in ("enforce_rate_limits", "burst_enforced", "ban_after_429s", "ban_window_s", "ban_s"):
            value = getattr(new, name)
            if value is not None:
                setattr(s, "enforce" if name == "enforce_rate_limits" else name, value)
        return JSONResponse(self._settings())

    def _stats(self) -> dict[str, Any]:
        return {"daily_tokens_remaining": self.limiter.daily_remaining(), "timeline": self.timeline.to_json()}

    # -- faults ---------------------------------------------------------------------------------------
    def status_response(self, fault: FaultSpec, route_key: str) -> Response:
        """An injected status as Pipedrive would send it: 403 is Cloudflare's HTML, 429 has the headers."""
        if fault.status == 403:
            return cloudflare_forbidden()
        if fault.status == 429:
            limit = BURST_LIMITS["api_token"][self.config.pipedrive_plan]
            remaining = self.limiter.daily_remaining()
            return rate_limited_response(
                {
                    "x-ratelimit-limit": str(limit),
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-reset": "2",
                    "x-daily-ratelimit-token-limit": str(self.limiter.settings.daily_limit),
                    "x-daily-ratelimit-token-remaining": str(remaining),
                }
            )
        if fault.status == 401:
            return unauthorized_response()
        return status_body_response(fault.status)


def build_pipedrive_app(config: SandboxConfig) -> Starlette:
    server = PipedriveServer(config)
    app = server.control.build_app(server.routes())
    app.add_exception_handler(404, _json_http_error)
    app.add_exception_handler(405, _json_http_error)
    app.state.pipedrive = server
    return app


async def _json_http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer with the JSON envelope, as the real API does, not plain text."""
    status = getattr(exc, "status_code", 404)
    return envelope_error(status, "Unknown method ." if status == 404 else "Method not allowed")
