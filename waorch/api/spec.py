"""Pieces of OpenAPI 3.1 descriptions, shared by the operations that the API modules describe beside their handlers."""

from __future__ import annotations

from typing import Any

ERROR_MEANINGS = {
    400: "bad input; nothing changed (the code says what: INVALID_PHONE, INVALID_PROXY, INVALID_TIERS, ...)",
    401: "missing or wrong X-API-Key",
    404: "no such resource",
    409: "conflicts with the current state; nothing changed",
    422: "Idempotency-Key used with another body",
    429: "daily limit reached (Retry-After: seconds to local midnight)",
}
# What a 503 means beyond Redis, by code (only these, and only on the operations that list them).
UNAVAILABLE_MEANINGS = {
    "NO_PROXY_CAPACITY": "every usable proxy carries MAX_SESSIONS_PER_PROXY sessions",
    "NO_CAPACITY": "no connected session has room left today",
    "WORKER_UNREACHABLE": "the session shows a QR but its worker did not answer (it died or is restarting): try again",
    "BACKUP_FAILED": "the backup could not be written (the disk is full or refuses); an alert says why",
}
REDIS_CODES = ("REDIS_UNAVAILABLE", "REDIS_FULL")
NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_NUMBER = {"type": ["number", "null"]}


def ref(name: str) -> dict[str, str]:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_of(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A JSON response with ``schema``."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def object_of(properties: dict[str, Any], description: str) -> dict[str, Any]:
    """A JSON response that is an object with all of ``properties``."""
    return json_of({"type": "object", "required": list(properties), "properties": properties}, description)


def _error_with(codes: tuple[str, ...], description: str) -> dict[str, Any]:
    return json_of({"allOf": [ref("Error")], "properties": {"error": {"enum": list(codes)}}}, description)


def errors(*statuses: int, unavailable: tuple[str, ...] = ()) -> dict[str, Any]:
    """Error responses for ``statuses``; 401 and 503 always: every API path needs the key and reads Redis.
    A 503 is ``REDIS_UNAVAILABLE`` (down or restarting: retry) or ``REDIS_FULL`` (at its maxmemory),
    or one of the operation's own ``unavailable`` codes (``UNAVAILABLE_MEANINGS``)."""
    answers = {str(status): json_of(ref("Error"), ERROR_MEANINGS[status]) for status in sorted({401, *statuses})}
    meaning = "; ".join(f"{code}: {UNAVAILABLE_MEANINGS[code]}" for code in unavailable)
    redis = "REDIS_UNAVAILABLE: Redis is down or restarting (retry); REDIS_FULL: Redis is at its maxmemory"
    answers["503"] = _error_with((*unavailable, *REDIS_CODES), f"{meaning}; {redis}" if meaning else redis)
    return answers


def body_of(schema: dict[str, Any], required: bool, example: Any = None) -> dict[str, Any]:
    """A JSON request body with ``schema``."""
    media = {"schema": schema, **({"example": example} if example is not None else {})}
    return {"required": required, "content": {"application/json": media}}
