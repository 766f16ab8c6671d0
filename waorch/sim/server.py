"""The WhatsApp network simulator: one aiohttp server on loopback.

Workers running the ``sim`` engine connect to ``/ws`` (see :mod:`waorch.sim.protocol`); people and
tests play the phones through the simulator API under ``/sim`` (see :mod:`waorch.sim.api`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal

from aiohttp import web

from waorch.sim import api, store
from waorch.sim.network import NETWORK, SimNetwork
from waorch.sim.options import OPTIONS, SimOptions
from waorch.sim.protocol import handle_ws
from waorch.sim.state import SimState

__all__ = ["SimOptions", "SimServer", "build_app", "serve_forever"]

log = logging.getLogger(__name__)


def build_app(options: SimOptions) -> web.Application:
    """The simulator's aiohttp application (state loaded from ``options.state_path`` if set)."""
    state = SimState(options.clock)
    path = options.state_path
    if path is not None:
        store.load(path, state)
    app = web.Application(middlewares=[api.json_errors])
    app[OPTIONS] = options
    app[NETWORK] = SimNetwork(state, (lambda: store.save(path, state)) if path else (lambda: None))
    app.router.add_get("/ws", handle_ws)
    api.add_routes(app)
    app.on_shutdown.append(_close_connections)
    return app


async def _close_connections(app: web.Application) -> None:
    await app[NETWORK].close_all()


def _require_loopback(host: str) -> None:
    """The simulator API has no authentication: refuse to listen beyond this machine."""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"the simulator listens on loopback only, not {host}")


class SimServer:
    """A running simulator; ``url`` and ``port`` are set once ``start()`` returns."""

    def __init__(self, options: SimOptions) -> None:
        _require_loopback(options.host)
        self.options = options
        self.port = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Bind and start serving."""
        runner = web.AppRunner(build_app(self.options), access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        await web.TCPSite(runner, self.options.host, self.options.port).start()
        self._runner = runner
        self.port = runner.addresses[0][1]
        host = f"[{self.options.host}]" if ":" in self.options.host else self.options.host
        self.url = f"http://{host}:{self.port}"
        log.info("simulator listening on %s", self.url)

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def serve_forever(options: SimOptions) -> None:
    """Run a simulator until cancelled or sent SIGTERM; prints its URL once it listens."""
    server = SimServer(options)
    await server.start()
    print(f"waorch sim listening on {server.url}", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopped.set)
    try:
        await stopped.wait()
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        await server.stop()
