"""Error bodies exactly as the real Pipedrive API sends them, and the exception that carries them.

The shapes differ by layer (gateway 401, v2 schema validation, v1 generic envelope, Cloudflare 403),
so each has one builder here and handlers raise :class:`ApiError` instead of building responses.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import HTMLResponse, JSONResponse, Response

ERROR_INFO = "Please check developers.pipedrive.com"
V1_ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."


class ApiError(Exception):
    """Raised by handlers and validators; the app turns it into its response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class ValidationFailed(ApiError):
    """v2 strict validation: every problem as ``"<param>: <message>"``, joined like the real API."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(validation_response(problems))
        self.problems = problems


def validation_response(problems: list[str]) -> Response:
    body = {
        "success": False,
        "error": "Validation failed: " + "; ".join(problems),
        "code": "ERR_SCHEMA_VALIDATION_FAILED",
    }
    return JSONResponse(body, status_code=400)


def unauthorized_response() -> Response:
    """The gateway's 401 for a missing, wrong or expired token (observed body and header)."""
    body = {"success": False, "error": "unauthorized access", "errorCode": 401, "error_info": ERROR_INFO}
    return JSONResponse(body, status_code=401, headers={"x-401-by-gw": "true"})


def envelope_error(status: int, message: str, info: str = ERROR_INFO) -> Response:
    """The documented generic error envelope (404s, v1 errors, injected faults)."""
    body: dict[str, Any] = {
        "success": False,
        "error": message,
        "error_info": info,
        "data": None,
        "additional_data": None,
    }
    return JSONResponse(body, status_code=status)


def not_found(what: str) -> ApiError:
    return ApiError(envelope_error(404, f"{what} not found"))


def v1_bad_request(message: str) -> ApiError:
    return ApiError(envelope_error(400, message, V1_ERROR_INFO))


def internal_error() -> ApiError:
    """What the real v2 API answers to custom fields wrapped one level too deep."""
    body = {"success": False, "error": "Internal Server Error", "code": "ERR_UNKNOWN"}
    return ApiError(JSONResponse(body, status_code=500))


def rate_limited_response(headers: dict[str, str]) -> Response:
    body = {"success": False, "error": "Rate limit exceeded", "errorCode": 429}
    return JSONResponse(body, status_code=429, headers=headers)


_CLOUDFLARE_PAGE = """<!DOCTYPE html>
<html lang="en-US">
<head><title>Access denied | api.pipedrive.com used Cloudflare to restrict access</title>
<meta charset="UTF-8" /></head>
<body>
<div id="cf-wrapper"><div id="cf-error-details" class="cf-error-details-wrapper">
<h1><span class="cf-error-type">Error</span> <span class="cf-error-code">1015</span></h1>
<h2 class="cf-subheadline">You are being rate limited</h2>
<p>The owner of this website (api.pipedrive.com) has banned you temporarily from accessing this website.</p>
<p>Cloudflare Ray ID: <strong class="font-semibold">8f0sandbox0000</strong></p>
</div></div>
</body>
</html>
"""


def cloudflare_forbidden(headers: dict[str, str] | None = None) -> Response:
    """The HTML page clients get after ignoring 429s: not JSON, and must not be parsed as such."""
    return HTMLResponse(_CLOUDFLARE_PAGE, status_code=403, headers=headers)


_STATUS_MESSAGES = {
    400: "Bad request",
    401: "unauthorized access",
    402: "Company account is not open (possible reason: trial expired, payment details not entered)",
    404: "Not found",
    405: "Method not allowed",
    410: "Gone",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Requested service is not available",
    504: "Gateway Timeout",
}


def status_body_response(status: int) -> Response:
    """A JSON error body fitting ``status``, for injected faults."""
    return envelope_error(status, _STATUS_MESSAGES.get(status, "Requested service is not available"))
