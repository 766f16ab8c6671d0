"""The aiohttp application: worker webhook, REST API, ``/health``, OpenAPI document."""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from aiohttp import web

from waorch.core import keys
from waorch.core.events import Event
from waorch.core.orchestrator import Core
from waorch.core.redis_server import is_full, is_outage, problem_of
from waorch.errors import (
    BadRequest,
    MethodNotAllowed,
    NotFound,
    RedisFull,
    RedisUnavailable,
    SessionNotFound,
    SignatureError,
    Unauthorized,
    WaorchError,
)
from waorch.signing import SESSION_HEADER, verify, webhook_key
from waorch.webhook_server import api, inbox_api, send_api
from waorch.webhook_server.common import CORE, read_json
from waorch.webhook_server.openapi import openapi_document

log = logging.getLogger("waorch.http")
SESSION_ID = re.compile(r"worker_[0-9]{1,18}")
PUBLIC_PATHS = frozenset({"/health", "/webhook", "/api/openapi.json"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(error: WaorchError) -> web.Response:
    """The JSON error body with the error's status (and ``Retry-After`` where the error has one)."""
    retry_after = getattr(error, "retry_after", 0)
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return web.json_response(error.to_dict(), status=error.status, headers=headers)


def http_error(request: web.Request, error: web.HTTPException) -> WaorchError | None:
    """The waorch error for aiohttp's own 404 / 405 / 413 (``None``: let aiohttp answer)."""
    if error.status == 404:
        return NotFound(f"no endpoint {request.path}")
    if error.status == 405:
        return MethodNotAllowed(f"{request.method} is not allowed on {request.path}")
    if error.status == 413:
        return BadRequest("request body too large", code="BODY_TOO_LARGE")
    return None


def storage_error(error: BaseException) -> WaorchError | None:
    """The 503 for Redis being unavailable or full (``None``: another Redis error, a fault of ours)."""
    if is_full(error):
        return RedisFull("Redis is full (maxmemory reached); nothing was changed")
    if is_outage(error):
        return RedisUnavailable("Redis is unavailable; try again (a send: with the same Idempotency-Key)")
    return None


def api_middleware(api_key: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Require ``X-API-Key`` (constant-time compare) everywhere but the public paths, and map
    errors to their codes, never answering bad input with a 500 (one middleware: each costs per request)."""
    expected = api_key.encode()

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if request.path not in PUBLIC_PATHS:
                offered = request.headers.get("X-API-Key", "").encode("utf-8", "surrogatepass")  # any bytes: no raise
                if not expected or not hmac.compare_digest(offered, expected):  # no key set: nobody gets in
                    raise Unauthorized("missing or wrong X-API-Key")
            return await handler(request)
        except WaorchError as error:
            if error.status >= 500:
                log.warning("%s %s: %s", request.method, request.path, error)
            return error_response(error)
        except web.HTTPException as error:
            mapped = http_error(request, error)
            if mapped is None:
                raise
            return error_response(mapped)
        except (aioredis.RedisError, OSError) as error:
            mapped = storage_error(error)
            if mapped is None:
                raise
            if not await request.app[CORE].activity.redis_full(error):  # a full Redis is said once per episode
                log.warning("%s %s: %s (%s)", request.method, request.path, mapped.message, problem_of(error))
            return error_response(mapped)

    return guard


class RedisReplayGuard:
    """Webhook ids already accepted, kept in Redis for the signature tolerance."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def first_time(self, msg_id: str) -> bool:
        """True the first time an id is seen."""
        return bool(await self.redis.set(keys.webhook_seen(msg_id), 1, nx=True, ex=600))


async def webhook(request: web.Request) -> web.Response:
    """``POST /webhook``: verify the worker's signature before parsing, then apply the event."""
    core = request.app[CORE]
    session_id = request.headers.get(SESSION_HEADER, "")
    body = await request.read()
    if not SESSION_ID.fullmatch(session_id):
        raise SignatureError("missing or malformed session header")
    msg_id = verify(webhook_key(core.settings.webhook_secret, session_id), request.headers, body)
    event = Event.parse(read_json(body))
    if event.session_id != session_id:
        raise SignatureError("event is for another session")
    if not await RedisReplayGuard(core.redis).first_time(msg_id):
        raise SignatureError("replayed webhook id")
    if await core.store.find(session_id) is None:
        raise SessionNotFound(f"no session {session_id}", session_id=session_id)
    await core.handle_event(event)
    return web.json_response({"ok": True})


async def health(request: web.Request) -> web.Response:
    """``GET /health``: Redis reachable and counts by status (no key needed)."""
    report = await request.app[CORE].health()
    return web.json_response(report, status=200 if report["redis"] else 503)


async def openapi(request: web.Request) -> web.Response:
    """``GET /api/openapi.json``."""
    return web.json_response(openapi_document())


def create_app(core: Core) -> web.Application:
    """The application for one core."""
    app = web.Application(middlewares=[api_middleware(core.settings.api_key)],
                          client_max_size=1024 * 1024)
    app[CORE] = core
    app.router.add_post("/webhook", webhook)
    app.router.add_get("/health", health)
    app.router.add_get("/api/openapi.json", openapi)
    api.add_routes(app.router)
    send_api.add_routes(app.router)
    inbox_api.add_routes(app.router)
    return app
