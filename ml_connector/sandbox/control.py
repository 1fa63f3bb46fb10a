"""The sandbox control plane shared by both servers: request statistics and fault injection.

Not part of the real APIs. Everything lives under ``/_sandbox/`` and is left out of the statistics,
so a test can assert exactly how many real API calls the connector made.

A fault is armed with ``POST /_sandbox/faults`` and hits the next ``count`` requests whose route
matches (``"POST /api/v2/organizations"``, the route template as the server declares it, or ``"*"``).
Kinds: ``status`` (answer with ``status`` instead), ``delay`` (then serve), ``drop`` (close the
connection unanswered), ``malformed`` (the real answer cut in half), ``expired_token`` (the server's
401), and ``lost_response``: the request is served (a write is applied) and then its answer is lost, after
``delay_ms``: a 502/503/504 gateway answer when ``status`` is one of those, else a dropped connection.

``POST /_sandbox/permissions`` ``{"deny": ["Get_Suppliers"]}`` takes operations away from the API client,
as a missing domain permission does; the server answers them with its "not authorized" error until a reset.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ml_connector.sandbox.oauth import TokenIssuer

CONTROL_PREFIX = "/_sandbox"

FaultKind = Literal["status", "delay", "drop", "malformed", "expired_token", "lost_response"]
GATEWAY_STATUSES = frozenset({502, 503, 504})


class FaultSpec(BaseModel):
    """One armed fault: what to do to the next ``count`` matching requests."""

    route: str = "*"
    count: int = Field(default=1, ge=1)
    # Let this many matching requests through first: "fail the load half-way".
    after: int = Field(default=0, ge=0)
    kind: FaultKind = "status"
    status: int = Field(default=500, ge=100, le=599)
    delay_ms: int = Field(default=0, ge=0)
    body: str | None = None
    content_type: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)


class OAuthSettings(BaseModel):
    rotate: bool | None = None
    ttl_s: int | None = Field(default=None, ge=1)
    expire_access_tokens: bool = False
    revoke_refresh_tokens: bool = False


class PermissionSettings(BaseModel):
    deny: list[str] = Field(default_factory=list)


class _ArmedFault:
    def __init__(self, spec: FaultSpec) -> None:
        self.spec = spec
        self.pass_through = spec.after
        self.remaining = spec.count


# An app-specific response for a fault (its error body for a status, its 401 for an expired token).
FaultResponder = Callable[[FaultSpec, str], Response]


class ControlPlane:
    """Per-server statistics, armed faults and reset hooks; thread-safe."""

    def __init__(
        self,
        name: str,
        *,
        status_response: FaultResponder,
        expired_token_response: FaultResponder,
        latency_ms: int = 0,
    ) -> None:
        self.name = name
        self.latency_ms = latency_ms
        self._status_response = status_response
        self._expired_token_response = expired_token_response
        self._lock = threading.Lock()
        self._faults: list[_ArmedFault] = []
        self._reset_hooks: list[Callable[[], None]] = []
        self._stats_hooks: list[Callable[[], dict[str, Any]]] = []
        self.requests_total = 0
        self.by_route: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.counters: Counter[str] = Counter()
        self.issuer: TokenIssuer | None = None
        self._denied: frozenset[str] = frozenset()

    # -- statistics -------------------------------------------------------------------------------
    def record(self, route_key: str, status: int) -> None:
        with self._lock:
            self.requests_total += 1
            self.by_route[route_key] += 1
            self.by_status[status] += 1

    def count(self, name: str, amount: int = 1) -> None:
        """Add to a server-specific counter (Pipedrive: ``tokens_spent``)."""
        with self._lock:
            self.counters[name] += amount

    def on_stats(self, hook: Callable[[], dict[str, Any]]) -> None:
        """Register extra fields for ``GET /_sandbox/stats`` (e.g. remaining daily budget)."""
        self._stats_hooks.append(hook)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            body: dict[str, Any] = {
                "server": self.name,
                "requests_total": self.requests_total,
                "by_route": dict(sorted(self.by_route.items())),
                "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
                **dict(self.counters),
            }
        for hook in self._stats_hooks:
            body.update(hook())
        return body

    # -- reset --------------------------------------------------------------------------------------
    def on_reset(self, hook: Callable[[], None]) -> None:
        self._reset_hooks.append(hook)

    def reset(self) -> None:
        """Forget statistics and faults, then let the server restore its seeded state."""
        with self._lock:
            self._faults.clear()
            self.requests_total = 0
            self.by_route.clear()
            self.by_status.clear()
            self.counters.clear()
            self._denied = frozenset()
        for hook in self._reset_hooks:
            hook()

    def attach_issuer(self, issuer: TokenIssuer) -> None:
        """Expose the server's OAuth state at ``/_sandbox/oauth`` and restore it on reset."""
        self.issuer = issuer
        self.on_reset(issuer.reset)

    # -- permissions --------------------------------------------------------------------------------
    def denied(self, operation: str) -> bool:
        """Whether the API client lost its permission for ``operation`` (``Get_Suppliers``)."""
        return operation in self._denied

    # -- faults -------------------------------------------------------------------------------------
    def arm(self, spec: FaultSpec) -> None:
        with self._lock:
            self._faults.append(_ArmedFault(spec))

    def take_fault(self, route_key: str) -> FaultSpec | None:
        with self._lock:
            for armed in self._faults:
                if armed.spec.route in ("*", route_key):
                    if armed.pass_through > 0:
                        armed.pass_through -= 1
                        return None
                    armed.remaining -= 1
                    if armed.remaining <= 0:
                        self._faults.remove(armed)
                    return armed.spec
        return None

    def pending_faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {**a.spec.model_dump(), "remaining": a.remaining, "passing": a.pass_through}
                for a in self._faults
            ]

    # -- routes and middleware ----------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return [
            Route(f"{CONTROL_PREFIX}/stats", self._get_stats, methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/reset", self._post_reset, methods=["POST"]),
            Route(f"{CONTROL_PREFIX}/faults", self._get_faults, methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/faults", self._post_faults, methods=["POST"]),
            Route(f"{CONTROL_PREFIX}/faults", self._delete_faults, methods=["DELETE"]),
            Route(f"{CONTROL_PREFIX}/oauth", self._get_oauth, methods=["GET"]),
            Route(f"{CONTROL_PREFIX}/oauth", self._post_oauth, methods=["POST"]),
            Route(f"{CONTROL_PREFIX}/permissions", self._post_permissions, methods=["POST"]),
        ]

    async def _get_stats(self, request: Request) -> Response:
        return JSONResponse(self.stats())

    async def _post_reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"reset": True})

    async def _get_faults(self, request: Request) -> Response:
        return JSONResponse({"faults": self.pending_faults()})

    async def _post_faults(self, request: Request) -> Response:
        try:
            payload = await request.json()
            specs = payload if isinstance(payload, list) else [payload]
            parsed = [FaultSpec.model_validate(s) for s in specs]
        except (ValueError, ValidationError) as exc:
            return JSONResponse({"error": f"invalid fault: {exc}"}, status_code=400)
        for spec in parsed:
            self.arm(spec)
        return JSONResponse({"armed": [s.model_dump() for s in parsed]})

    async def _delete_faults(self, request: Request) -> Response:
        with self._lock:
            self._faults.clear()
        return JSONResponse({"faults": []})

    async def _get_oauth(self, request: Request) -> Response:
        if self.issuer is None:
            return JSONResponse({"error": "this server has no OAuth issuer"}, status_code=404)
        i = self.issuer
        return JSONResponse({"rotate": i.rotate, "ttl_s": i.ttl_s, "refresh_count": i.refresh_count})

    async def _post_oauth(self, request: Request) -> Response:
        """Switch rotation, change the access-token lifetime, expire tokens or revoke refresh tokens."""
        if self.issuer is None:
            return JSONResponse({"error": "this server has no OAuth issuer"}, status_code=404)
        try:
            settings = OAuthSettings.model_validate(await request.json())
        except (ValueError, ValidationError) as exc:
            return JSONResponse({"error": f"invalid oauth settings: {exc}"}, status_code=400)
        if settings.rotate is not None:
            self.issuer.rotate = settings.rotate
        if settings.ttl_s is not None:
            self.issuer.ttl_s = settings.ttl_s
        if settings.expire_access_tokens:
            self.issuer.expire_access_tokens()
        if settings.revoke_refresh_tokens:
            self.issuer.revoke_refresh_tokens()
        return await self._get_oauth(request)

    async def _post_permissions(self, request: Request) -> Response:
        """Deny exactly the listed operations (an empty list gives every permission back)."""
        try:
            settings = PermissionSettings.model_validate(await request.json())
        except (ValueError, ValidationError) as exc:
            return JSONResponse({"error": f"invalid permissions: {exc}"}, status_code=400)
        with self._lock:
            self._denied = frozenset(settings.deny)
        return JSONResponse({"deny": sorted(settings.deny)})

    def build_app(self, api_routes: list[BaseRoute]) -> Starlette:
        """A Starlette app serving ``api_routes`` plus the control routes, with stats and faults wired in."""
        app = _SandboxApp(routes=self.routes() + api_routes)
        app.add_middleware(_ControlMiddleware, control=self, routes=app.routes)
        app.state.control = self
        return app


_RAW_SEND = "ml_connector.sandbox.raw_send"


class _SandboxApp(Starlette):
    """Starlette that keeps the server's own ``send`` in the scope, so a fault can cut the socket."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[_RAW_SEND] = send
        await super().__call__(scope, receive, send)


def route_key(routes: list[BaseRoute], scope: Scope) -> str:
    """``"METHOD /template"`` of the first route that matches the request, as stats and faults name it."""
    method = scope.get("method", "GET")
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return f"{method} {getattr(route, 'path', scope['path'])}"
    return f"{method} <unmatched>"


class _ControlMiddleware:
    def __init__(self, app: ASGIApp, control: ControlPlane, routes: list[BaseRoute]) -> None:
        self.app = app
        self.control = control
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        key = route_key(self.routes, scope)
        status_seen = 0

        async def counting_send(message: Message) -> None:
            nonlocal status_seen
            if message["type"] == "http.response.start":
                status_seen = message["status"]
            await send(message)

        try:
            if self.control.latency_ms:
                await asyncio.sleep(self.control.latency_ms / 1000)
            fault = self.control.take_fault(key)
            await self._serve(fault, key, scope, receive, counting_send, send)
        finally:
            self.control.record(key, status_seen or 499)

    async def _serve(
        self,
        fault: FaultSpec | None,
        key: str,
        scope: Scope,
        receive: Receive,
        send: Send,
        raw_send: Send,
    ) -> None:
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.kind == "lost_response":
            await self.app(scope, receive, _discard)  # applied; its answer never leaves
            if fault.delay_ms:
                await asyncio.sleep(fault.delay_ms / 1000)
            if fault.status in GATEWAY_STATUSES:
                await self.control._status_response(fault, key)(scope, receive, send)
            else:
                _drop_connection(scope.get(_RAW_SEND, raw_send))
            return
        if fault.delay_ms:
            await asyncio.sleep(fault.delay_ms / 1000)
        if fault.kind == "delay":
            await self.app(scope, receive, send)
        elif fault.kind == "drop":
            _drop_connection(scope.get(_RAW_SEND, raw_send))
        elif fault.kind == "malformed":
            await self.app(scope, receive, _truncating_send(send))
        else:
            responder = self.control._expired_token_response
            if fault.kind == "status":
                responder = self.control._status_response
            response = responder(fault, key)
            if fault.body is not None:
                response = Response(
                    fault.body,
                    status_code=fault.status,
                    media_type=fault.content_type or response.media_type,
                )
            response.headers.update(fault.headers)
            await response(scope, receive, send)


async def _discard(message: Message) -> None:
    """An ASGI ``send`` that throws the response away."""


def _drop_connection(send: Send) -> None:
    """Close the TCP connection without any response, as a crashed proxy or a network cut would."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:  # pragma: no cover - depends on the ASGI server
        raise ConnectionAbortedError("sandbox fault: connection dropped")
    transport.abort()


def _truncating_send(send: Send) -> Callable[[Message], Awaitable[None]]:
    """Pass the real response through, cut to half its body: a parser must fail on it."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def truncating(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return
        body = b"".join(chunks)
        cut = body[: max(1, len(body) // 2)]
        assert start is not None
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(cut)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": cut})

    return truncating
