"""A session's sending queue: what waits, when the next send goes, usage against its tier; pause, resume."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from waorch.api.messages import MESSAGE, message_json
from waorch.api.routing import Route, core_of
from waorch.api.spec import NULLABLE_NUMBER, errors, json_of
from waorch.api.tiers import TIER, tier_json
from waorch.core.views import QueueView

WAITING_REASONS = [
    "empty",
    "paused",
    "not_connected",
    "gap",
    "per_minute",
    "daily_limit",
    "hours",
    "tier_closed",
    "banned",
    "retry",
    "reach_out",
]
QUEUE: dict[str, Any] = {
    "type": "object",
    "required": [
        "sessionId",
        "paused",
        "depth",
        "inflight",
        "head",
        "nextSendAt",
        "waiting",
        "tier",
        "perMinute",
        "daily",
    ],
    "properties": {
        "sessionId": {"type": "string"},
        "paused": {"type": "boolean"},
        "depth": {"type": "integer"},
        "inflight": {"type": "array", "items": {"type": "string"}},
        "head": {"type": "array", "items": MESSAGE},
        "nextSendAt": NULLABLE_NUMBER,
        "tier": TIER,
        "waiting": {
            "type": ["object", "null"],
            "required": ["reason", "text"],
            "description": "why the head message is not sent yet (null: it is due, or the queue is empty)",
            "properties": {"reason": {"enum": WAITING_REASONS}, "text": {"type": "string"}},
        },
        "perMinute": {"type": "object", "required": ["used", "limit"]},
        "daily": {"type": "object", "required": ["day", "sent", "queued", "failed", "limit"]},
    },
}


def queue_json(view: QueueView) -> dict[str, Any]:
    """A queue view as the API shows it."""
    today = view.today
    return {
        "sessionId": view.session_id,
        "paused": view.paused,
        "depth": view.depth,
        "inflight": view.inflight,
        "head": [message_json(message) for message in view.head],
        "nextSendAt": view.next_send_at,
        "waiting": {"reason": view.waiting.reason, "text": view.waiting.text} if view.waiting else None,
        "tier": tier_json(view.tier),
        "perMinute": {"used": view.sent_last_minute, "limit": view.tier.per_minute},
        "daily": {
            "day": today.day,
            "queued": today.queued,
            "sent": today.sent,
            "failed": today.failed,
            "unknown": today.unknown,
            "limit": today.limit,
        },
    }


async def get_queue(request: web.Request) -> web.Response:
    """``GET /api/sessions/{id}/queue``: depth, head, next send time, usage against the tier."""
    return web.json_response(queue_json(await core_of(request).reader.queue_view(request.match_info["id"])))


async def pause_queue(request: web.Request) -> web.Response:
    """``POST /api/sessions/{id}/queue/pause``: messages stay queued; nothing is sent."""
    return await _paused(request, True)


async def resume_queue(request: web.Request) -> web.Response:
    """``POST /api/sessions/{id}/queue/resume``."""
    return await _paused(request, False)


async def _paused(request: web.Request, paused: bool) -> web.Response:
    core, session_id = core_of(request), request.match_info["id"]
    await core.set_paused(session_id, paused)
    return web.json_response(queue_json(await core.reader.queue_view(session_id)))


ROUTES = (
    Route(
        "GET",
        "/api/sessions/{id}/queue",
        get_queue,
        {
            "summary": "Queue depth, head, next send time, usage",
            "responses": {"200": json_of(QUEUE, "queue"), **errors(404)},
        },
    ),
    Route(
        "POST",
        "/api/sessions/{id}/queue/pause",
        pause_queue,
        {
            "summary": "Pause sending (messages stay queued)",
            "responses": {"200": json_of(QUEUE, "queue"), **errors(404)},
        },
    ),
    Route(
        "POST",
        "/api/sessions/{id}/queue/resume",
        resume_queue,
        {"summary": "Resume sending", "responses": {"200": json_of(QUEUE, "queue"), **errors(404)}},
    ),
)
