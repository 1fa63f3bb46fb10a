"""Reading request bodies and path ids, failing the way each API does: v2 with its validation errors,
v1 with its generic envelope."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ml_connector.sandbox.pipedrive.errors import ValidationFailed, v1_bad_request


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise ValidationFailed(["body: Request body is missing"])
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValidationFailed(["body: Invalid JSON"]) from exc


async def read_v1_json(request: Request) -> dict[str, Any]:
    """A v1 body: a JSON object, an empty body reading as one with no parameters."""
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise v1_bad_request("Bad request") from exc
    if not isinstance(body, dict):
        raise v1_bad_request("Bad request")
    return body


def path_int(request: Request, name: str = "id") -> int:
    raw = request.path_params[name]
    if not raw.isdigit():
        raise ValidationFailed([f"{name}: Expected 'number' as value, received '{raw}'"])
    return int(raw)


def ok(data: Any, additional_data: dict[str, Any] | None = None) -> Response:
    """The success envelope; ``additional_data`` only where the operation has it."""
    body: dict[str, Any] = {"success": True, "data": data}
    if additional_data is not None:
        body["additional_data"] = additional_data
    return JSONResponse(body)
