"""Who is calling: API token (header or query) or OAuth bearer token; and the OAuth token endpoint.

The real token endpoint lives on ``oauth.pipedrive.com``; the sandbox serves it on its own host and
answers with ``api_domain`` set to its own base URL, where the connector must send API calls.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ml_connector.pipedrive_limits import AuthKind
from ml_connector.sandbox.oauth import TokenIssuer, client_from_basic

OAUTH_SCOPE = "base,contacts:full,contact-fields:full,search:read,users:read"


@dataclass(frozen=True)
class Caller:
    kind: AuthKind
    token: str


def authenticate(request: Request, api_token: str, issuer: TokenIssuer) -> Caller | None:
    """The caller, or ``None`` for a missing, wrong or expired credential (or an API token as Bearer)."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, bearer = authorization.partition(" ")
        if scheme.lower() != "bearer" or issuer.check_access(bearer.strip()) != "valid":
            return None
        return Caller("oauth", bearer.strip())
    token = request.headers.get("x-api-token") or request.query_params.get("api_token")
    if token and secrets.compare_digest(token, api_token):
        return Caller("api_token", token)
    return None


def _oauth_error(status: int, error: str, message: str) -> Response:
    """The OAuth server's error body (shape of the official SDK's test stub)."""
    return JSONResponse({"success": False, "message": message, "error": error}, status_code=status)


async def oauth_token(request: Request, issuer: TokenIssuer) -> Response:
    """``POST /oauth/token``: refresh grant; client by HTTP Basic (or, discouraged, form fields)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return _oauth_error(
            400, "invalid_request", "Invalid request: content must be application/x-www-form-urlencoded"
        )
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    client = client_from_basic(request.headers.get("authorization"))
    if client is None and "client_id" in form:
        client = (form.get("client_id", ""), form.get("client_secret", ""))
    if client is None:
        return _oauth_error(401, "invalid_client", "Invalid client: cannot retrieve client credentials")
    if not issuer.client_ok(*client):
        return _oauth_error(401, "invalid_client", "Invalid client: client is invalid")
    grant = form.get("grant_type")
    if not grant:
        return _oauth_error(400, "invalid_request", "Missing parameter: grant_type")
    if grant == "authorization_code":
        return _oauth_error(400, "invalid_grant", "Invalid grant: authorization_code is invalid")
    if grant == "exchange_api_token":
        return _oauth_error(400, "invalid_grant", "Invalid grant: api_token is invalid")
    if grant != "refresh_token":
        return _oauth_error(400, "unsupported_grant_type", "Unsupported grant type: grant_type is invalid")
    issued = issuer.refresh(form.get("refresh_token", ""))
    if issued is None:
        return _oauth_error(400, "invalid_grant", "Invalid grant: refresh_token is invalid")
    return JSONResponse(
        {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "refresh_token": issued.refresh_token,
            "scope": OAUTH_SCOPE,
            "expires_in": issued.expires_in,
            "api_domain": str(request.base_url).rstrip("/"),
        }
    )
