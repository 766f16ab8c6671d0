"""The HTTP status of each kind of error, and the JSON answer that carries an error."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from waorch.errors import (
    BadRequest,
    ConfigError,
    Conflict,
    DailyLimit,
    IdempotencyMismatch,
    MethodNotAllowed,
    NotFound,
    Unauthorized,
    Unavailable,
    WaorchError,
)

# By kind (the nearest class of an error's own class that is listed here); any other error is a fault: 500.
STATUSES: dict[type[WaorchError], int] = {
    BadRequest: 400,
    Unauthorized: 401,
    NotFound: 404,
    MethodNotAllowed: 405,
    Conflict: 409,
    IdempotencyMismatch: 422,
    DailyLimit: 429,
    Unavailable: 503,
}
FAULT = 500
ERROR: dict[str, Any] = {  # the schema of every error answer
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}, "sessionId": {"type": "string"}},
}


def status_of(error: WaorchError) -> int:
    """The status ``error`` is answered with."""
    return next((STATUSES[kind] for kind in type(error).__mro__ if kind in STATUSES), FAULT)


def error_json(error: WaorchError) -> dict[str, str]:
    """``{"error": code, "message": ...}``, with the session's id where the error concerns one."""
    body = {"error": error.code, "message": error.message}
    if error.session_id:
        body["sessionId"] = error.session_id
    return body


def error_response(error: WaorchError) -> web.Response:
    """The JSON error answer with the error's status (and ``Retry-After`` where the error has one)."""
    retry_after = getattr(error, "retry_after", 0)
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return web.json_response(error_json(error), status=status_of(error), headers=headers)


def _kinds(root: type[WaorchError]) -> list[type[WaorchError]]:
    found = [root]
    for kind in root.__subclasses__():
        found += _kinds(kind)
    return found


BY_CODE = {kind.code: kind for kind in _kinds(WaorchError) if kind is not ConfigError}
BY_STATUS = {number: kind for kind, number in STATUSES.items()}


def error_from(status: int, body: object, session_id: str | None = None) -> WaorchError:
    """The error an API answered with, as the class a local call raises (by its code; else by its status)."""
    answer = body if isinstance(body, dict) else {}
    code = str(answer.get("error") or "INTERNAL")
    kind = BY_CODE.get(code) or BY_STATUS.get(status, WaorchError)
    message = str(answer.get("message") or f"the active core answered HTTP {status}")
    return kind(message, code=code, session_id=answer.get("sessionId") or session_id)
