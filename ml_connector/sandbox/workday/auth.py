"""``POST /ccx/oauth2/{tenant}/token``: Workday's refresh-token grant with RFC 6749 error bodies.

Client credentials are accepted as HTTP Basic or as form fields, as public Workday clients send both.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ml_connector.sandbox.oauth import client_from_basic
from ml_connector.sandbox.workday.tenant import Tenant

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    headers = dict(_NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="Workday"'
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


async def token(request: Request) -> Response:
    tenant: Tenant = request.app.state.tenant
    if request.path_params["tenant"] != tenant.name:
        return JSONResponse({"error": "invalid tenant"}, status_code=404)
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return _oauth_error(400, "invalid_request", "The request must be application/x-www-form-urlencoded")
    form = await request.form()
    fields = {k: str(v) for k, v in form.items()}
    basic = client_from_basic(request.headers.get("authorization"))
    client_id, secret = basic or (fields.get("client_id"), fields.get("client_secret"))
    if client_id is None:
        return _oauth_error(401, "invalid_client", "Client authentication is required")
    if not tenant.issuer.client_ok(client_id, secret):
        return _oauth_error(401, "invalid_client", "Invalid client credentials")
    grant = fields.get("grant_type")
    if not grant:
        return _oauth_error(400, "invalid_request", "Missing grant_type")
    if grant != "refresh_token":
        return _oauth_error(400, "unsupported_grant_type", f"Unsupported grant_type: {grant}")
    refresh = fields.get("refresh_token")
    if not refresh:
        return _oauth_error(400, "invalid_request", "Missing refresh_token")
    issued = tenant.issuer.refresh(refresh)
    if issued is None:
        return _oauth_error(400, "invalid_grant", "Invalid refresh token")
    body = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "refresh_token": issued.refresh_token,
    }
    return JSONResponse(body, headers=_NO_STORE)
