"""Incoming messages (newest first, in pages) and the forwarding of events to ``EVENTS_WEBHOOK_URL``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from waorch.api.inputs import WholeQuery, only_queries
from waorch.api.routing import Route, core_of
from waorch.api.spec import errors, object_of
from waorch.core.inbox import TEXT_LIMIT

DEFAULT_PAGE = 50
MAX_PAGE = 1000
LIMIT = WholeQuery("limit", 1, MAX_PAGE, f"how many (default {DEFAULT_PAGE})")
BEFORE = WholeQuery("before", 1, 2**53, "only messages with a smaller id (the previous page's next)")
INCOMING = {
    "type": "object",
    "required": ["id", "sessionId", "from", "chat", "text", "truncated", "waId", "timestamp", "receivedAt"],
    "properties": {
        "id": {"type": "integer", "description": "per-session sequence number, newest highest (the paging cursor)"},
        "sessionId": {"type": "string"},
        "from": {"type": "string", "description": "sender's number (digits) or JID"},
        "chat": {"type": "string", "description": "the sender, or the group the message was posted in"},
        "text": {"type": "string", "description": f"the first {TEXT_LIMIT} characters of the text"},
        "truncated": {"type": "boolean", "description": f"the text was longer than {TEXT_LIMIT} characters and is cut"},
        "waId": {"type": "string", "description": "WhatsApp's message id"},
        "timestamp": {"type": "number", "description": "sent, unix seconds"},
        "receivedAt": {"type": "number", "description": "received by waorch, unix seconds"},
    },
}
FORWARDED = {
    "type": "object",
    "required": ["id", "type", "sessionId", "timestamp", "data"],
    "description": "an event as posted to EVENTS_WEBHOOK_URL",
    "properties": {
        "id": {"type": "string", "description": "also the webhook-id header; the same on every attempt"},
        "type": {"enum": ["message", "session.status"]},
        "sessionId": {"type": "string"},
        "timestamp": {"type": "integer", "description": "queued, unix milliseconds"},
        "data": {"type": "object", "description": "message: an incoming message; session.status: {status, reason}"},
    },
}
FAILED: dict[str, Any] = {
    "type": "object",
    "required": ["delivery", "attempts", "error", "failedAt"],
    "properties": {
        "delivery": FORWARDED,
        "attempts": {"type": "integer"},
        "error": {"type": "string"},
        "failedAt": {"type": "number", "description": "given up, unix seconds"},
    },
}


async def list_messages(request: web.Request) -> web.Response:
    """``GET /api/sessions/{id}/messages?limit=&before=``: incoming messages, newest first.

    They are kept as the JSON they are forwarded as (one script stores and queues the same text), so
    they are answered as stored."""
    core = core_of(request)
    only_queries(request, LIMIT, BEFORE)
    limit = LIMIT.read(request) or DEFAULT_PAGE
    before = BEFORE.read(request)
    session = await core.store.get(request.match_info["id"])
    messages = await core.inbox.page(session.id, limit, before)
    cursor = messages[-1]["id"] if len(messages) == limit else None
    return web.json_response({"sessionId": session.id, "messages": messages, "next": cursor})


async def list_deliveries(request: web.Request) -> web.Response:
    """``GET /api/events/deliveries?limit=``: forwarding on or off, events waiting, failed deliveries."""
    core = core_of(request)
    only_queries(request, LIMIT)
    limit = LIMIT.read(request) or DEFAULT_PAGE
    return web.json_response(
        {
            "forwarding": core.forwarder is not None,
            "pending": await core.outbox.pending(),
            "failed": await core.outbox.failed(limit),
        }
    )


ROUTES = (
    Route(
        "GET",
        "/api/sessions/{id}/messages",
        list_messages,
        {
            "summary": "Incoming messages of a session, newest first (the last INBOX_LIMIT are kept)",
            "parameters": [LIMIT.spec(), BEFORE.spec()],
            "responses": {
                "200": object_of(
                    {
                        "sessionId": {"type": "string"},
                        "messages": {"type": "array", "items": INCOMING},
                        "next": {"type": ["integer", "null"], "description": "before= for the next page"},
                    },
                    "messages",
                ),
                **errors(400, 404),
            },
        },
    ),
    Route(
        "GET",
        "/api/events/deliveries",
        list_deliveries,
        {
            "summary": "Forwarding to EVENTS_WEBHOOK_URL: events waiting and deliveries given up (newest first)",
            "parameters": [LIMIT.spec()],
            "responses": {
                "200": object_of(
                    {
                        "forwarding": {"type": "boolean"},
                        "pending": {"type": "integer"},
                        "failed": {"type": "array", "items": FAILED},
                    },
                    "deliveries",
                ),
                **errors(400),
            },
        },
    ),
)
