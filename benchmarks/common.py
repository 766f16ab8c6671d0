"""Small helpers shared by the benchmark scripts."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator

from waorch.clock import Clock
from waorch.config import load_settings
from waorch.core.core import Core
from waorch.service import running_service


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@contextlib.asynccontextmanager
async def simulator() -> AsyncIterator[str]:
    """``waorch sim`` in its own process; yields its URL."""
    sim_port = free_port()
    sim = subprocess.Popen([sys.executable, "-m", "waorch", "sim", "--port", str(sim_port)], stdout=subprocess.DEVNULL)  # noqa: ASYNC220
    try:
        yield f"http://127.0.0.1:{sim_port}"
    finally:
        sim.terminate()
        sim.wait(10)


@contextlib.asynccontextmanager
async def sim_fleet(
    clock: Clock | None = None, sim_url: str | None = None, **env: str
) -> AsyncIterator[tuple[Core, str]]:
    """``waorch sim`` in its own process (unless ``sim_url`` names one running) and the core with its HTTP
    server on a private embedded Redis in a temporary data dir (sim engine, no start spacing; ``env`` adds
    settings); yields ``(core, simulator URL)``; workers are stopped afterwards."""
    async with contextlib.AsyncExitStack() as stack:
        url = sim_url or await stack.enter_async_context(simulator())
        data = stack.enter_context(tempfile.TemporaryDirectory())
        settings = load_settings(
            {
                "DATA_DIR": data,
                "API_KEY": "benchmark-api-key-0123456789",
                "WEBHOOK_SECRET": "benchmark-secret-0123456789",
                "ORCH_PORT": str(free_port()),
                "WORKER_ENGINE": "sim",
                "SIM_URL": url,
                "PROVISIONING_INTERVAL_MS": "0",
                "PATH": os.environ["PATH"],
                **env,
            }
        )
        async with running_service(settings, stop_workers=True, clock=clock) as service:
            yield service.core, url
