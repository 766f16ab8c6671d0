"""The aiohttp application of one core: the REST API's routes and any others given (the worker
webhook), one middleware for the API key and for answering every error with its status."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from aiohttp import web

from waorch.api import alerts, backups, health, inbox, jobs, messages, metrics, proxies, queues, sessions, tiers
from waorch.api.document import openapi_document
from waorch.api.routing import CORE, Handler, Route, add_routes
from waorch.api.statuses import ERROR, error_response, status_of
from waorch.core.core import Core
from waorch.core.redis_server import is_full, is_outage, problem_of
from waorch.errors import BadRequest, MethodNotAllowed, NotFound, RedisFull, RedisUnavailable, Unauthorized, WaorchError

log = logging.getLogger("waorch.http")
ROUTES: tuple[Route, ...] = (
    *health.ROUTES,
    *sessions.ROUTES,
    *proxies.ROUTES,
    *messages.ROUTES,
    *queues.ROUTES,
    *tiers.ROUTES,
    *inbox.ROUTES,
    *alerts.ROUTES,
    *jobs.ROUTES,
    *metrics.ROUTES,
    *backups.ROUTES,
)
SCHEMAS = {"Error": ERROR, "Session": sessions.SESSION, "Proxy": proxies.PROXY, "Health": health.HEALTH}
DOCUMENT = openapi_document(ROUTES, SCHEMAS)
MAX_BODY = 1024 * 1024


async def openapi(request: web.Request) -> web.Response:
    """``GET /api/openapi.json``."""
    return web.json_response(DOCUMENT)


DOCUMENT_ROUTE = Route("GET", "/api/openapi.json", openapi, public=True)


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


def guard(api_key: str, public_paths: frozenset[str]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Require ``X-API-Key`` (constant-time compare) everywhere but the public paths, and map
    errors to their codes, never answering bad input with a 500 (one middleware: each costs per request)."""
    expected = api_key.encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if request.path not in public_paths:
                offered = request.headers.get("X-API-Key", "").encode("utf-8", "surrogatepass")  # any bytes: no raise
                if not expected or not hmac.compare_digest(offered, expected):  # no key set: nobody gets in
                    raise Unauthorized("missing or wrong X-API-Key")
            return await handler(request)
        except WaorchError as error:
            if status_of(error) >= 500:
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

    return middleware


def create_app(core: Core, others: tuple[Route, ...] = ()) -> web.Application:
    """The application for one core: the REST API, its document, and ``others`` (e.g. the worker webhook)."""
    return application(core, (*ROUTES, DOCUMENT_ROUTE, *others))


def create_metrics_app(core: Core) -> web.Application:
    """The application on ``METRICS_HOST:METRICS_PORT``: ``GET /metrics`` alone, without the key."""
    return application(core, metrics.PUBLIC_ROUTES)


def application(core: Core, routes: tuple[Route, ...]) -> web.Application:
    """An application of ``routes`` on one core (the key required but on public routes; errors as codes)."""
    public = frozenset(route.path for route in routes if route.public)
    app = web.Application(middlewares=[guard(core.settings.api_key, public)], client_max_size=MAX_BODY)
    app[CORE] = core
    add_routes(app.router, routes)
    return app
