"""Sending: ``POST /api/v1/send`` (with ``Idempotency-Key``), number checks and a message's status."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from waorch.api.inputs import JsonObject
from waorch.api.routing import Route, core_of
from waorch.api.spec import NULLABLE_NUMBER, errors, json_of
from waorch.core.idempotency import check_key, fingerprint
from waorch.core.intake import MAX_SCHEDULE_DAYS, MAX_TEXT, parse_send
from waorch.core.messages import CHECK, Message, MessageStatus
from waorch.errors import BadRequest
from waorch.phones import parse_phone

MESSAGE: dict[str, Any] = {
    "type": "object",
    "required": ["messageId", "sessionId", "to", "status", "created", "attempts"],
    "properties": {
        "messageId": {"type": "string"},
        "sessionId": {"type": "string"},
        "to": {"type": "string"},
        "status": {"enum": [status.value for status in MessageStatus]},
        "length": {"type": "integer"},
        "created": {"type": "number"},
        "sendAt": NULLABLE_NUMBER,
        "attempts": {"type": "integer"},
        "startedAt": NULLABLE_NUMBER,
        "finishedAt": NULLABLE_NUMBER,
        "sentAt": NULLABLE_NUMBER,
        "retryAt": NULLABLE_NUMBER,
        "waId": {"type": ["string", "null"]},
        "error": {"type": ["string", "null"]},
        "kind": {"enum": ["text", CHECK], "description": "a text, or a number check (POST /api/v1/checks)"},
        "onWhatsApp": {
            "type": ["boolean", "null"],
            "description": "a check's answer once its status is checked (null until then, and for a text)",
        },
    },
}
ACCEPTED = {
    "type": "object",
    "required": ["queued", "messageId", "sessionId", "status"],
    "properties": {
        "queued": {"const": True},
        "messageId": {"type": "string"},
        "sessionId": {"type": "string"},
        "status": {"enum": ["queued", "scheduled"]},
        "sendAt": NULLABLE_NUMBER,
    },
}
SEND = JsonObject(
    {
        "to": {"type": "string", "description": "E.164, or national with DEFAULT_REGION"},
        "message": {"type": "string", "maxLength": MAX_TEXT},
        "sessionId": {"type": "string", "description": "omit to distribute"},
        "sendAt": {
            "type": "string",
            "format": "date-time",
            "description": f"ISO 8601 with offset, at most {MAX_SCHEDULE_DAYS} days ahead",
        },
    },
    ("to", "message"),
    {"to": "+972502345678", "message": "Hello", "sessionId": "worker_1"},
)
IDEMPOTENCY = [
    {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "example": "order-1",
        "description": "same key and body: the first answer again (kept 48 h); other body: 422; in progress: 409",
    }
]


def message_json(message: Message) -> dict[str, Any]:
    """A sent (or waiting) message: its status and times, its length but not its text."""
    return {
        "messageId": message.id,
        "sessionId": message.session,
        "to": "+" + message.to,
        "status": message.status,
        "length": len(message.text),
        "created": message.created,
        "sendAt": message.send_at or None,
        "attempts": message.attempts,
        "startedAt": message.started or None,
        "finishedAt": message.finished or None,
        "sentAt": message.sent_at or None,
        "retryAt": message.retry_at or None,
        "waId": message.wa_id or None,
        "error": message.error or None,
        "kind": message.kind or "text",
        "onWhatsApp": {"1": True, "0": False}.get(message.on_whatsapp),
    }


def accepted_json(message: Message) -> dict[str, Any]:
    """The 202 answer: where the message waits and whether it is held until ``sendAt``."""
    return {
        "queued": True,
        "messageId": message.id,
        "sessionId": message.session,
        "status": "scheduled" if message.send_at else "queued",
        "sendAt": message.send_at or None,
    }


async def send(request: web.Request) -> web.Response:
    """``POST /api/v1/send {to, message, sessionId?, sendAt?}`` → 202 ``{queued, messageId}``."""
    core = core_of(request)
    body = await SEND.read(request)
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return web.json_response(await _accept(request, body), status=202)
    key = check_key(key)
    print_ = fingerprint(body)
    stored = await core.idempotency.begin(key, print_)
    if stored is not None:
        return web.json_response(stored, status=202, headers={"Idempotent-Replayed": "true"})
    try:
        answer = await _accept(request, body)
    except BaseException:
        await core.idempotency.abandon(key)
        raise
    await core.idempotency.finish(key, answer)
    return web.json_response(answer, status=202)


async def _accept(request: web.Request, body: dict[str, Any]) -> dict[str, Any]:
    core = core_of(request)
    sending = parse_send(
        body.get("to"),
        body.get("message"),
        body.get("sessionId"),
        body.get("sendAt"),
        region=core.settings.default_region,
        now=core.clock.now(),
    )
    accepted = await core.intake.accept(sending)
    core.metrics.events.accepted.inc()
    return accepted_json(accepted)


async def check(request: web.Request) -> web.Response:
    """``POST /api/v1/checks {sessionId, numbers}`` → 202: a check of each number queued on the session."""
    core = core_of(request)
    body = await CHECKS.read(request)
    session_id, numbers = body.get("sessionId"), body.get("numbers")
    if not isinstance(session_id, str) or not session_id.isprintable():
        raise BadRequest("sessionId must be a session's id")
    if not isinstance(numbers, list) or not 1 <= len(numbers) <= MAX_CHECKS:
        raise BadRequest(f"numbers must be a list of 1 to {MAX_CHECKS} phone numbers")
    region = core.settings.default_region
    parsed = list(dict.fromkeys(parse_phone(number, region, field="numbers[]") for number in numbers))
    checks = await core.intake.check_numbers(session_id, parsed)
    answer = [{"number": "+" + message.to, "checkId": message.id} for message in checks]
    return web.json_response({"sessionId": session_id, "checks": answer}, status=202)


async def get_message(request: web.Request) -> web.Response:
    """``GET /api/v1/messages/{id}``."""
    return web.json_response(message_json(await core_of(request).messages.get(request.match_info["id"])))


MAX_CHECKS = 100
CHECKS = JsonObject(
    {
        "sessionId": {"type": "string", "description": "the session that asks (its tier paces the checks)"},
        "numbers": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_CHECKS,
            "items": {"type": "string", "description": "E.164, or national with DEFAULT_REGION"},
        },
    },
    ("sessionId", "numbers"),
    {"sessionId": "worker_1", "numbers": ["+972502345678", "+972502345679"]},
)
CHECKS_QUEUED = {
    "type": "object",
    "required": ["sessionId", "checks"],
    "properties": {
        "sessionId": {"type": "string"},
        "checks": {
            "type": "array",
            "description": "one per distinct number, in order: read its answer at GET /api/v1/messages/{checkId}",
            "items": {
                "type": "object",
                "required": ["number", "checkId"],
                "properties": {"number": {"type": "string"}, "checkId": {"type": "string"}},
            },
        },
    },
}
ROUTES = (
    Route(
        "POST",
        "/api/v1/send",
        send,
        {
            "summary": "Queue a text message (durable before the 202)",
            "parameters": IDEMPOTENCY,
            "requestBody": SEND.spec(),
            "responses": {
                "202": json_of(ACCEPTED, "accepted"),
                **errors(400, 404, 409, 422, 429, unavailable=("NO_CAPACITY",)),
            },
        },
    ),
    Route(
        "POST",
        "/api/v1/checks",
        check,
        {
            "summary": "Queue checks of whether numbers are on WhatsApp, paced like the session's sends and counted "
            "against its day (a number not on WhatsApp is a bad sign for the failure breaker)",
            "requestBody": CHECKS.spec(),
            "responses": {"202": json_of(CHECKS_QUEUED, "queued"), **errors(400, 404, 409, 429)},
        },
    ),
    Route(
        "GET",
        "/api/v1/messages/{id}",
        get_message,
        {
            "summary": "A message's status and times (404 MESSAGE_NOT_FOUND once a finished message is older than "
            "MESSAGE_RETENTION_DAYS)",
            "responses": {"200": json_of(MESSAGE, "message"), **errors(404)},
        },
    ),
)
