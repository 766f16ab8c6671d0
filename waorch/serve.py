"""``waorch serve``: the service without a UI, until a signal or until another core takes its Redis over."""

from __future__ import annotations

import asyncio
import signal

from waorch.cancel import first_of
from waorch.config import Settings
from waorch.core.redis_server import reach
from waorch.logs import say
from waorch.redis_url import redact_url
from waorch.service import running_service


def announce(settings: Settings) -> None:
    """Say which secrets were generated (and where they are kept) and that no proxy is configured."""
    for name in settings.generated_secrets:
        path = settings.data_dir / "secrets" / name.lower()
        say(f"generated {name}; stored in {path} (mode 600). Read it with: cat {path}")
    if not settings.proxies:
        say("no PROXY_URL_<n> configured: sessions without a proxy connect directly")


async def serve(settings: Settings, stop_workers: bool) -> int:
    """Serve until SIGHUP / SIGTERM / SIGINT (0), or until another core takes this Redis over (1). A
    configured Redis that does not answer yet is waited for, saying so at each attempt."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):  # a closed terminal ends it cleanly too
        loop.add_signal_handler(sig, stop.set)
    if settings.redis_url:
        await first_of(reach(settings.redis_url, retry=True, say=say), stop.wait())
        if stop.is_set():
            return 0
    announce(settings)
    async with running_service(settings, stop_workers=stop_workers) as service:
        say(f"serving on {service.base_url} (Redis {redact_url(service.redis_url)})")
        await first_of(stop.wait(), service.core.lease.lost.wait())
        kept = 0 if stop_workers or not stop.is_set() else await service.core.live_workers()
    if not stop.is_set():
        say("another core took over this Redis; this one stopped (run `waorch` to attach to it)")
        return 1
    if kept:
        say(
            f"stopped; {kept} worker(s) keep running, so their sessions stay logged in and keep receiving, and the "
            "next start adopts them. To stop them too: waorch serve --stop-workers (they stop on its exit)"
        )
    return 0
