"""REST handlers for incoming messages and forwarded-event deliveries, with their OpenAPI path items."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from waorch.core.inbox import TEXT_LIMIT
from waorch.errors import BadRequest
from waorch.webhook_server.common import core_of
from waorch.webhook_server.openapi import errors, json_of

DEFAULT_PAGE = 50
MAX_PAGE = 1000


def _known(request: web.Request, allowed: set[str]) -> None:
    unknown = set(request.query) - allowed
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {', '.join(sorted(unknown))}", code="INVALID_QUERY")


def _whole(request: web.Request, name: str, low: int, high: int) -> int | None:
    """The query parameter ``name`` as a whole number in ``[low, high]``, or ``None`` if absent."""
    values = request.query.getall(name, [])
    if not values:
        return None
    value = values[0]
    readable = value.isascii() and value.isdigit() and len(value) <= len(str(high))  # int() of 5000 digits raises
    if len(values) > 1 or not readable or not low <= int(value) <= high:
        raise BadRequest(f"{name} must be one whole number from {low} to {high}", code="INVALID_QUERY")
    return int(value)


async def list_messages(request: web.Request) -> web.Response:
    """``GET /api/sessions/{id}/messages?limit=&before=``: incoming messages, newest first."""
    core = core_of(request)
    _known(request, {"limit", "before"})
    limit = _whole(request, "limit", 1, MAX_PAGE) or DEFAULT_PAGE
    before = _whole(request, "before", 1, 2**53)
    session = await core.store.get(request.match_info["id"])
    messages = await core.inbox.page(session.id, limit, before)
    cursor = messages[-1]["id"] if len(messages) == limit else None
    return web.json_response({"sessionId": session.id, "messages": messages, "next": cursor})


async def list_deliveries(request: web.Request) -> web.Response:
    """``GET /api/events/deliveries?limit=``: forwarding on or off, events waiting, failed deliveries."""
    core = core_of(request)
    _known(request, {"limit"})
    limit = _whole(request, "limit", 1, MAX_PAGE) or DEFAULT_PAGE
    return web.json_response({"forwarding": core.forwarder is not None, "pending": await core.outbox.pending(),
                              "failed": await core.outbox.failed(limit)})


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the inbox and delivery routes."""
    router.add_get("/api/sessions/{id}/messages", list_messages)
    router.add_get("/api/events/deliveries", list_deliveries)


def _query(name: str, description: str, maximum: int) -> dict[str, Any]:
    schema = {"type": "integer", "minimum": 1, "maximum": maximum}
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


LIMIT = _query("limit", f"how many (default {DEFAULT_PAGE})", MAX_PAGE)
MESSAGE = {
    "type": "object", "required": ["id", "sessionId", "from", "chat", "text", "truncated", "waId", "timestamp", "receivedAt"],
    "properties": {
        "id": {"type": "integer", "description": "per-session sequence number, newest highest (the paging cursor)"},
        "sessionId": {"type": "string"}, "from": {"type": "string", "description": "sender's number (digits) or JID"},
        "chat": {"type": "string", "description": "the sender, or the group the message was posted in"},
        "text": {"type": "string", "description": f"the first {TEXT_LIMIT} characters of the text"},
        "truncated": {"type": "boolean", "description": f"the text was longer than {TEXT_LIMIT} characters and is cut"},
        "waId": {"type": "string", "description": "WhatsApp's message id"},
        "timestamp": {"type": "number", "description": "sent, unix seconds"},
        "receivedAt": {"type": "number", "description": "received by waorch, unix seconds"},
    },
}
FORWARDED = {
    "type": "object", "required": ["id", "type", "sessionId", "timestamp", "data"],
    "description": "an event as posted to EVENTS_WEBHOOK_URL",
    "properties": {
        "id": {"type": "string", "description": "also the webhook-id header; the same on every attempt"},
        "type": {"enum": ["message", "session.status"]}, "sessionId": {"type": "string"},
        "timestamp": {"type": "integer", "description": "queued, unix milliseconds"},
        "data": {"type": "object", "description": "message: an incoming message; session.status: {status, reason}"},
    },
}
FAILED = {
    "type": "object", "required": ["delivery", "attempts", "error", "failedAt"],
    "properties": {"delivery": FORWARDED, "attempts": {"type": "integer"}, "error": {"type": "string"},
                   "failedAt": {"type": "number", "description": "given up, unix seconds"}},
}
OPENAPI_PATHS: dict[str, Any] = {
    "/api/sessions/{id}/messages": {
        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "get": {"summary": "Incoming messages of a session, newest first (the last INBOX_LIMIT are kept)",
                "parameters": [LIMIT, _query("before", "only messages with a smaller id (the previous page's next)", 2**53)],
                "responses": {"200": json_of({
                    "type": "object", "required": ["sessionId", "messages", "next"],
                    "properties": {"sessionId": {"type": "string"}, "messages": {"type": "array", "items": MESSAGE},
                                   "next": {"type": ["integer", "null"], "description": "before= for the next page"}},
                }, "messages"), **errors(400, 404)}}},
    "/api/events/deliveries": {
        "get": {"summary": "Forwarding to EVENTS_WEBHOOK_URL: events waiting and deliveries given up (newest first)",
                "parameters": [LIMIT],
                "responses": {"200": json_of({
                    "type": "object", "required": ["forwarding", "pending", "failed"],
                    "properties": {"forwarding": {"type": "boolean"}, "pending": {"type": "integer"},
                                   "failed": {"type": "array", "items": FAILED}},
                }, "deliveries"), **errors(400)}}},
}
