"""The OpenAPI 3.1 document of the REST API (tests check it against what the API answers)."""

from __future__ import annotations

from typing import Any

STATUSES = ["provisioning", "starting", "qr_ready", "connected", "disconnected", "logged_out", "failed", "stopped"]
NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_NUMBER = {"type": ["number", "null"]}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error", "message"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}, "sessionId": {"type": "string"}},
    },
    "Session": {
        "type": "object",
        "required": ["sessionId", "status", "proxy", "proxyId", "phone", "created", "restarts"],
        "properties": {
            "sessionId": {"type": "string", "pattern": "^worker_[0-9]+$"},
            "status": {"enum": STATUSES},
            "proxy": {**NULLABLE_STRING, "description": "proxy URL with the password replaced by ***"},
            "proxyId": NULLABLE_STRING, "phone": NULLABLE_STRING, "created": {"type": "number"},
            "connectedSince": NULLABLE_NUMBER, "lastPing": NULLABLE_NUMBER, "reason": NULLABLE_STRING,
            "hint": {**NULLABLE_STRING, "description": "what to check about reason (a failed connection: DNS, "
                     "network, TLS, the proxy's address, credentials or answers), if anything"},
            "nextStartAt": {**NULLABLE_NUMBER, "description": "unix seconds when the worker's next start is due "
                            "(a queued start, or a restart after its backoff); null if none is queued"},
            "restarts": {"type": "integer"}, "tierPin": NULLABLE_STRING, "paused": {"type": "boolean"},
            "firstConnected": NULLABLE_NUMBER, "banUntil": NULLABLE_NUMBER,
            "engine": {"enum": ["neonize", "sim", None], "description": "the worker engine it was created with, and keeps"},
            "qr": {"type": "string", "description": "current QR payload, only while qr_ready"},
            "qrExpiresAt": {"type": "number"},
            "history": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Proxy": {
        "type": "object",
        "required": ["id", "url", "endpoint", "status", "load", "max", "sessions", "phones", "source"],
        "properties": {
            "id": {"type": "string"}, "url": {"type": "string"}, "endpoint": {"type": "string"},
            "status": {"enum": ["ok", "bad"]}, "badUntil": {"type": ["integer", "null"]},
            "reason": NULLABLE_STRING, "source": {"type": "string"}, "load": {"type": "integer"},
            "max": {"type": "integer"}, "sessions": {"type": "array", "items": {"type": "string"}},
            "phones": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Health": {
        "type": "object", "required": ["status", "redis", "core"],
        "properties": {
            "status": {"enum": ["ok", "degraded", "unavailable"]}, "redis": {"type": "boolean"},
            "core": {"type": "string", "description": "active, suspended: why (Redis unavailable), stepped down, ..."},
            "problem": {"type": "string", "description": "while Redis is unavailable: why"},
            "sessions": {"type": "object", "additionalProperties": {"type": "integer"}},
            "proxies": {"type": "object"},
            "durability": {
                "type": "object", "description": "what a 202 guarantees on this Redis server",
                "required": ["server", "waitaof", "appendonly", "appendfsync", "powerCutSafe"],
                "properties": {"server": {"type": "string"}, "waitaof": {"type": "boolean"},
                               "appendonly": NULLABLE_STRING, "appendfsync": NULLABLE_STRING,
                               "powerCutSafe": {"type": "boolean"}}},
        },
    },
}


def ref(name: str) -> dict[str, str]:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_of(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A JSON response with ``schema``."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def errors(*codes: int) -> dict[str, Any]:
    """Error responses for ``codes``; 401 and 503 always: every API path needs the key, and reads
    Redis (``REDIS_UNAVAILABLE`` while it is down or restarting, ``REDIS_FULL`` at its maxmemory)."""
    return {str(code): json_of(ref("Error"), "error") for code in sorted({401, 503, *codes})}


def request_body(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """A JSON object request body without extra fields."""
    schema = {"type": "object", "properties": properties, "additionalProperties": False, "required": required or []}
    return {"required": bool(required), "content": {"application/json": {"schema": schema}}}


SESSION_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
PATHS: dict[str, Any] = {
    "/health": {"get": {"summary": "Redis reachable and counts by status", "security": [],
                        "responses": {"200": json_of(ref("Health"), "healthy"), "503": json_of(ref("Health"), "Redis unreachable")}}},
    "/api/sessions/provision": {"post": {
        "summary": "Create a session and queue its worker",
        "requestBody": request_body({"phone": {"type": "string"}, "proxy": {"type": "string", "description": "socks5h:// or socks5:// URL"}}),
        "responses": {"201": json_of(ref("Session"), "created"), **errors(400, 409, 503)}}},
    "/api/sessions": {"get": {"summary": "List sessions", "responses": {
        "200": json_of({"type": "object", "required": ["sessions"], "properties": {"sessions": {"type": "array", "items": ref("Session")}}}, "sessions"),
        **errors()}}},
    "/api/sessions/{id}": {
        "parameters": SESSION_ID,
        "get": {"summary": "One session (with qr while qr_ready)", "responses": {"200": json_of(ref("Session"), "session"), **errors(404)}},
        "delete": {"summary": "Stop the worker, free the proxy slot, delete the session", "responses": {
            "200": json_of({"type": "object", "required": ["deleted", "sessionId"], "properties": {"deleted": {"type": "boolean"}, "sessionId": {"type": "string"}}}, "deleted"),
            **errors(404)}}},
    "/api/sessions/{id}/restart": {"parameters": SESSION_ID, "post": {
        "summary": "Queue a restart of the worker", "responses": {"202": json_of(ref("Session"), "queued"), **errors(404)}}},
    "/api/sessions/{id}/logout": {"parameters": SESSION_ID, "post": {
        "summary": "Log the session out of WhatsApp", "responses": {
            "202": json_of({"type": "object", "required": ["loggingOut", "sessionId"], "properties": {"loggingOut": {"type": "boolean"}, "sessionId": {"type": "string"}}}, "logging out"),
            **errors(404)}}},
    "/api/sessions/{id}/pairing-code": {"parameters": SESSION_ID, "post": {
        "summary": "A pairing code to link a phone without scanning (while the QR is shown)",
        "requestBody": request_body({"phone": {"type": "string"}}, ["phone"]),
        "responses": {
            "200": json_of({"type": "object", "required": ["sessionId", "code"],
                            "properties": {"sessionId": {"type": "string"}, "code": {"type": "string", "pattern": "^[A-Z0-9]{4}-[A-Z0-9]{4}$"}}}, "code"),
            **errors(400, 404, 409, 503)}}},
    "/api/proxies": {
        "get": {"summary": "List proxies", "responses": {
            "200": json_of({"type": "object", "required": ["proxies"], "properties": {"proxies": {"type": "array", "items": ref("Proxy")}}}, "proxies"),
            **errors()}},
        "post": {"summary": "Add a proxy", "requestBody": request_body({"url": {"type": "string"}}, ["url"]),
                 "responses": {"201": json_of(ref("Proxy"), "added"), **errors(400, 409)}}},
    "/api/proxies/{id}": {"parameters": SESSION_ID, "delete": {
        "summary": "Remove an idle proxy", "responses": {
            "200": json_of({"type": "object", "required": ["deleted", "id"], "properties": {"deleted": {"type": "boolean"}, "id": {"type": "string"}}}, "removed"),
            **errors(404, 409)}}},
}


def openapi_document() -> dict[str, Any]:
    """The whole document (paths of every API module)."""
    from waorch.webhook_server import inbox_api, send_api

    paths = {**PATHS, **send_api.OPENAPI_PATHS, **inbox_api.OPENAPI_PATHS}
    return {
        "openapi": "3.1.0",
        "info": {"title": "waorch", "version": "0.1.0",
                 "description": "Orchestrates WhatsApp sessions, each in its own worker behind its own SOCKS5 proxy."},
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}},
        "security": [{"apiKey": []}],
        "paths": paths,
    }
