"""Running the headless service: embedded Redis (if no ``REDIS_URL``), the core, the HTTP server."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from waorch.clock import Clock
from waorch.config import Settings
from waorch.core.embedded_redis import EmbeddedRedis
from waorch.core.orchestrator import Core, redis_client
from waorch.webhook_server.app import create_app

log = logging.getLogger("waorch.service")


@dataclass
class Service:
    """A running core with its HTTP server."""

    core: Core
    redis_url: str
    base_url: str


@contextlib.asynccontextmanager
async def embedded_or_configured_redis(settings: Settings) -> AsyncIterator[str]:
    """Yield the Redis URL: ``REDIS_URL``, or a private embedded server started for the duration."""
    if settings.redis_url:
        yield settings.redis_url
        return
    server = EmbeddedRedis(settings.data_dir / "redis")
    await server.start()
    log.info("embedded Redis on %s (append-only persistence in %s)", server.socket_path, server.directory)
    try:
        yield server.url
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def running_service(settings: Settings, *, stop_workers: bool = False, clock: Clock | None = None) -> AsyncIterator[Service]:
    """Start everything; on exit stop it in reverse (workers keep running unless ``stop_workers``).

    ``CoreActive`` if another core already holds this Redis's lease."""
    async with embedded_or_configured_redis(settings) as url, \
            active_core(settings, url, stop_workers=stop_workers, clock=clock) as service:
        yield service


@contextlib.asynccontextmanager
async def active_core(settings: Settings, url: str, *, stop_workers: bool = False,
                      clock: Clock | None = None) -> AsyncIterator[Service]:
    """The core (holding the lease) and its HTTP server on the Redis at ``url``."""
    redis = redis_client(url)
    try:
        core = Core(settings, redis, clock=clock)
        await core.lease.acquire()
    except BaseException:
        await redis.aclose(close_connection_pool=True)
        raise
    runner = web.AppRunner(create_app(core), access_log=None, handle_signals=False)
    try:
        await runner.setup()
        await web.TCPSite(runner, settings.orch_host, settings.orch_port).start()
        await core.start()
        yield Service(core, url, settings.base_url)
    finally:
        await runner.cleanup()
        await core.stop(stop_workers=stop_workers)
        await redis.aclose(close_connection_pool=True)

