"""REST handlers for sending: ``/api/v1/send``, messages, session queues, trust tiers."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from waorch.core.idempotency import check_key, fingerprint
from waorch.core.intake import MAX_SCHEDULE_DAYS, parse_send
from waorch.core.tiers import DEFAULT_TIERS, MAXIMA
from waorch.errors import BadRequest
from waorch.webhook_server.common import core_of, json_body
from waorch.webhook_server.openapi import SESSION_ID, body_of, errors, json_of, ref, request_body


async def send(request: web.Request) -> web.Response:
    """``POST /api/v1/send {to, message, sessionId?, sendAt?}`` → 202 ``{queued, messageId}``."""
    core = core_of(request)
    body = await json_body(request)
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
    message = await core.intake.accept(parse_send(body, core.settings.default_region, core.clock.now()))
    return {"queued": True, "messageId": message.id, "sessionId": message.session,
            "status": "scheduled" if message.send_at else "queued", "sendAt": message.send_at or None}


async def get_message(request: web.Request) -> web.Response:
    """``GET /api/v1/messages/{id}``."""
    message = await core_of(request).messages.get(request.match_info["id"])
    return web.json_response(message.to_public())


async def get_queue(request: web.Request) -> web.Response:
    """``GET /api/sessions/{id}/queue``: depth, head, next send time, usage against the tier."""
    return web.json_response(await core_of(request).queue_view(request.match_info["id"]))


async def pause_queue(request: web.Request) -> web.Response:
    """``POST /api/sessions/{id}/queue/pause``: messages stay queued; nothing is sent."""
    return web.json_response(await core_of(request).set_paused(request.match_info["id"], True))


async def resume_queue(request: web.Request) -> web.Response:
    """``POST /api/sessions/{id}/queue/resume``."""
    return web.json_response(await core_of(request).set_paused(request.match_info["id"], False))


async def get_tiers(request: web.Request) -> web.Response:
    """``GET /api/trust-tiers``."""
    tiers = await core_of(request).tiers.all()
    return web.json_response({"tiers": [tier.to_dict() for tier in tiers]})


async def put_tiers(request: web.Request) -> web.Response:
    """``PUT /api/trust-tiers {tiers: [...]}``: validated as a whole, effective at once."""
    tiers = await core_of(request).replace_tiers(await json_body(request))
    return web.json_response({"tiers": [tier.to_dict() for tier in tiers]})


async def pin_tier(request: web.Request) -> web.Response:
    """``PUT /api/sessions/{id}/tier {tier: name | null}``: pin a session to a tier (null: by age)."""
    body = await json_body(request)
    if set(body) != {"tier"} or not (body["tier"] is None or isinstance(body["tier"], str)):
        raise BadRequest("body must be {\"tier\": name or null}", code="INVALID_TIERS")
    return web.json_response(await core_of(request).pin_tier(request.match_info["id"], body["tier"]))


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the sending routes."""
    router.add_post("/api/v1/send", send)
    router.add_get("/api/v1/messages/{id}", get_message)
    router.add_get("/api/sessions/{id}/queue", get_queue)
    router.add_post("/api/sessions/{id}/queue/pause", pause_queue)
    router.add_post("/api/sessions/{id}/queue/resume", resume_queue)
    router.add_get("/api/trust-tiers", get_tiers)
    router.add_put("/api/trust-tiers", put_tiers)
    router.add_put("/api/sessions/{id}/tier", pin_tier)


STATUS = {"enum": ["scheduled", "queued", "sending", "sent", "failed", "unknown", "dead"]}
NULLABLE_NUMBER = {"type": ["number", "null"]}
MESSAGE = {
    "type": "object", "required": ["messageId", "sessionId", "to", "status", "created", "attempts"],
    "properties": {
        "messageId": {"type": "string"}, "sessionId": {"type": "string"}, "to": {"type": "string"}, "status": STATUS,
        "length": {"type": "integer"}, "created": {"type": "number"}, "sendAt": NULLABLE_NUMBER,
        "attempts": {"type": "integer"}, "startedAt": NULLABLE_NUMBER, "finishedAt": NULLABLE_NUMBER,
        "sentAt": NULLABLE_NUMBER, "retryAt": NULLABLE_NUMBER, "waId": {"type": ["string", "null"]},
        "error": {"type": ["string", "null"]},
    },
}
TIER = {
    "type": "object", "additionalProperties": False,
    "required": ["name", "minAgeDays", "dailyLimit", "perMinute", "delayMinMs", "delayMaxMs", "hoursStart", "hoursEnd"],
    "properties": {"name": {"type": "string", "pattern": "^[a-z][a-z0-9_-]{0,31}$"},
                   **{name: {"type": "number" if name == "minAgeDays" else "integer", "minimum": 0, "maximum": maximum}
                      for name, maximum in MAXIMA.items()},
                   "hoursStart": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"},
                   "hoursEnd": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"}},
}
TIERS = {"type": "object", "required": ["tiers"], "properties": {"tiers": {"type": "array", "items": TIER}}}
QUEUE = {
    "type": "object",
    "required": ["sessionId", "paused", "depth", "inflight", "head", "nextSendAt", "waiting", "tier", "perMinute", "daily"],
    "properties": {
        "sessionId": {"type": "string"}, "paused": {"type": "boolean"}, "depth": {"type": "integer"},
        "inflight": {"type": "array", "items": {"type": "string"}}, "head": {"type": "array", "items": MESSAGE},
        "nextSendAt": NULLABLE_NUMBER, "tier": TIER,
        "waiting": {
            "type": ["object", "null"], "required": ["reason", "text"],
            "description": "why the head message is not sent yet (null: it is due, or the queue is empty)",
            "properties": {"reason": {"enum": ["empty", "paused", "not_connected", "gap", "per_minute", "daily_limit",
                                               "hours", "tier_closed", "banned", "retry", "reach_out"]},
                           "text": {"type": "string"}}},
        "perMinute": {"type": "object", "required": ["used", "limit"]},
        "daily": {"type": "object", "required": ["day", "sent", "queued", "failed", "limit"]},
    },
}
ACCEPTED = {"type": "object", "required": ["queued", "messageId", "sessionId", "status"],
            "properties": {"queued": {"const": True}, "messageId": {"type": "string"}, "sessionId": {"type": "string"},
                           "status": {"enum": ["queued", "scheduled"]}, "sendAt": NULLABLE_NUMBER}}
IDEMPOTENCY = [{"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"}, "example": "order-1",
                "description": "same key and body: the first answer again (kept 48 h); other body: 422; in progress: 409"}]

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/send": {"post": {
        "summary": "Queue a text message (durable before the 202)", "parameters": IDEMPOTENCY,
        "requestBody": request_body({"to": {"type": "string", "description": "E.164, or national with DEFAULT_REGION"},
                                     "message": {"type": "string", "maxLength": 4096},
                                     "sessionId": {"type": "string", "description": "omit to distribute"},
                                     "sendAt": {"type": "string", "format": "date-time",
                                                "description": f"ISO 8601 with offset, at most {MAX_SCHEDULE_DAYS} days ahead"}},
                                    ["to", "message"], {"to": "+972502345678", "message": "Hello", "sessionId": "worker_1"}),
        "responses": {"202": json_of(ACCEPTED, "accepted"), **errors(400, 404, 409, 422, 429, unavailable=("NO_CAPACITY",))}}},
    "/api/v1/messages/{id}": {"parameters": SESSION_ID, "get": {
        "summary": "A message's status and times (404 MESSAGE_NOT_FOUND once a finished message is older than "
                   "MESSAGE_RETENTION_DAYS)", "responses": {"200": json_of(MESSAGE, "message"), **errors(404)}}},
    "/api/sessions/{id}/queue": {"parameters": SESSION_ID, "get": {
        "summary": "Queue depth, head, next send time, usage", "responses": {"200": json_of(QUEUE, "queue"), **errors(404)}}},
    "/api/sessions/{id}/queue/pause": {"parameters": SESSION_ID, "post": {
        "summary": "Pause sending (messages stay queued)", "responses": {"200": json_of(QUEUE, "queue"), **errors(404)}}},
    "/api/sessions/{id}/queue/resume": {"parameters": SESSION_ID, "post": {
        "summary": "Resume sending", "responses": {"200": json_of(QUEUE, "queue"), **errors(404)}}},
    "/api/trust-tiers": {
        "get": {"summary": "The trust tier table", "responses": {"200": json_of(TIERS, "tiers"), **errors()}},
        "put": {"summary": "Replace the table (validated; live at once)",
                "requestBody": body_of(TIERS, True, {"tiers": [tier.to_dict() for tier in DEFAULT_TIERS]}),
                "responses": {"200": json_of(TIERS, "saved"), **errors(400)}}},
    "/api/sessions/{id}/tier": {"parameters": SESSION_ID, "put": {
        "summary": "Pin a session to a tier (null: by age)",
        "requestBody": body_of({"type": "object", "required": ["tier"], "properties": {"tier": {"type": ["string", "null"]}}},
                               True, {"tier": "warm"}),
        "responses": {"200": json_of(ref("Session"), "session"), **errors(400, 404)}}},
}
