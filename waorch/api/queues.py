"""A session's sending queue: what waits, when the next send goes, usage against its tier; pause, resume."""

from __future__ import annotations

from math import isinf
from typing import Any

from aiohttp import web

from waorch.api.messages import MESSAGE, message_json
from waorch.api.routing import Route, core_of
from waorch.api.spec import NULLABLE_NUMBER, errors, json_of
from waorch.api.tiers import TIER, tier_json
from waorch.core.pacing import Hold
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
    "breaker",
    "retry",
    "reach_out",
    "new_contacts",
    "per_recipient_hour",
    "per_recipient_day",
]
HOLD: dict[str, Any] = {
    "type": "object",
    "required": ["reason", "text"],
    "properties": {"reason": {"enum": WAITING_REASONS}, "text": {"type": "string"}},
}
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
        "newContacts",
        "next",
        "held",
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
            **HOLD,
            "type": ["object", "null"],
            "description": "why the next message is not sent yet (null: it is due, or the queue is empty)",
        },
        "next": {
            "type": ["string", "null"],
            "description": "the id of the message that goes next: the head, unless a cap of its recipient holds it "
            "(then the first later message to a recipient nothing holds)",
        },
        "held": {
            "type": "array",
            "description": "waiting messages a cap of their recipient holds (new contacts a day, per recipient an "
            "hour or 24 h, a reach-out hold), until when; later messages to other recipients pass them",
            "items": {
                **HOLD,
                "required": ["messageId", "reason", "text", "until"],
                "properties": {**HOLD["properties"], "messageId": {"type": "string"}, "until": NULLABLE_NUMBER},
            },
        },
        "perMinute": {"type": "object", "required": ["used", "limit"]},
        "newContacts": {
            "type": "object",
            "required": ["used", "limit"],
            "description": "recipients reached today that the session had never written to and that never wrote to it",
        },
        "daily": {
            "type": "object",
            "required": ["day", "sent", "queued", "failed", "limit"],
            "description": "the local day's counts; sent, queued and checks (number checks answered) use the limit",
            "properties": {"checks": {"type": "integer"}},
        },
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
        "next": view.next_message,
        "held": [held_json(message_id, hold) for message_id, hold in view.held.items()],
        "perMinute": {"used": view.sent_last_minute, "limit": view.tier.per_minute},
        "newContacts": {"used": today.new_contacts, "limit": view.tier.new_contacts_per_day},
        "daily": {
            "day": today.day,
            "queued": today.queued,
            "sent": today.sent,
            "failed": today.failed,
            "unknown": today.unknown,
            "checks": today.checks,
            "limit": today.limit,
        },
    }


def held_json(message_id: str, hold: Hold) -> dict[str, Any]:
    """A message a cap of its recipient holds, and until when (null: no end while the tier is as it is)."""
    return {
        "messageId": message_id,
        "reason": hold.reason,
        "text": hold.text,
        "until": None if isinf(hold.at) else hold.at,
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
