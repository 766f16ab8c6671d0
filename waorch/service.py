"""The service: the active core and its HTTP server on a Redis (the configured one, or a private embedded one).

``waorch serve`` (:mod:`waorch.serve`) runs it on its own loop; the control room's host runs it on a loop of
its own in a thread (:mod:`waorch.core_thread`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from waorch.api.app import create_app, create_metrics_app
from waorch.cancel import cancel_and_wait
from waorch.clock import Clock
from waorch.config import Settings
from waorch.core.core import Core
from waorch.core.embedded_redis import EmbeddedRedis
from waorch.core.redis_server import reach, redis_client
from waorch.private_files import private_dir
from waorch.webhook_server import receiver

log = logging.getLogger("waorch.service")


@dataclass
class Service:
    """A running core with its HTTP server."""

    core: Core
    redis_url: str
    base_url: str


@contextlib.asynccontextmanager
async def embedded_or_configured_redis(settings: Settings) -> AsyncIterator[str]:
    """Yield the Redis URL: ``REDIS_URL`` once it answers (``RedisUnavailable`` / ``RedisRefused``
    otherwise), or a private embedded server started (and kept running) for the duration. The data
    dir is made private (0700) first, whichever way waorch runs."""
    private_dir(settings.data_dir)
    if settings.redis_url:
        await reach(settings.redis_url)
        yield settings.redis_url
        return
    server = EmbeddedRedis(settings.data_dir / "redis", settings.redis_maxmemory_mb)
    await server.start()
    log.info(
        "embedded Redis on %s (append-only persistence in %s, maxmemory %s)",
        server.socket_path,
        server.directory,
        server.maxmemory,
    )
    keeper = asyncio.ensure_future(server.keep_running())
    try:
        yield server.url
    finally:
        await cancel_and_wait(keeper)
        await server.stop()


@contextlib.asynccontextmanager
async def running_service(
    settings: Settings, *, stop_workers: bool = False, clock: Clock | None = None
) -> AsyncIterator[Service]:
    """Start everything; on exit stop it in reverse (workers keep running unless ``stop_workers``).

    ``CoreActive`` if another core already holds this Redis's lease."""
    async with (
        embedded_or_configured_redis(settings) as url,
        active_core(settings, url, stop_workers=stop_workers, clock=clock) as service,
    ):
        yield service


@contextlib.asynccontextmanager
async def active_core(
    settings: Settings, url: str, *, stop_workers: bool = False, clock: Clock | None = None
) -> AsyncIterator[Service]:
    """The core (holding the lease) and its HTTP server on the Redis at ``url``."""
    redis = redis_client(url)
    try:
        core = Core(settings, redis, clock=clock)
        await core.lease.acquire()
    except BaseException:
        await redis.aclose(close_connection_pool=True)
        raise
    runner = web.AppRunner(create_app(core, receiver.ROUTES), access_log=None, handle_signals=False)
    scraper = web.AppRunner(create_metrics_app(core), access_log=None, handle_signals=False)
    try:
        await runner.setup()
        await web.TCPSite(runner, settings.orch_host, settings.orch_port).start()
        if settings.metrics_port:
            await scraper.setup()
            await web.TCPSite(scraper, settings.metrics_host, settings.metrics_port).start()
        await core.start()
        yield Service(core, url, settings.base_url)
    finally:
        await scraper.cleanup()
        await runner.cleanup()
        await core.stop(stop_workers=stop_workers)
        await redis.aclose(close_connection_pool=True)
