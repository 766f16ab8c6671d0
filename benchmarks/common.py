"""Small helpers shared by the benchmark scripts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator

import httpx
import psutil

from waorch.clock import Clock
from waorch.config import load_settings
from waorch.core.core import Core
from waorch.core.sessions import SessionStore
from waorch.service import running_service

API_KEY = "benchmark-api-key-0123456789"
WEBHOOK_SECRET = "benchmark-secret-0123456789"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def api_client(base_url: str) -> httpx.AsyncClient:
    """A client of the core's HTTP API at ``base_url`` with the benchmarks' API key."""
    return httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": API_KEY}, trust_env=False)


async def qr_latency(api: httpx.AsyncClient, store: SessionStore, started: float) -> tuple[str, float]:
    """Provision a session through the API; its id and the seconds from ``started`` until its QR is stored."""
    sid = (await api.post("/api/sessions/provision", json={})).json()["sessionId"]
    while (await store.get(sid)).status != "qr_ready":  # noqa: ASYNC110 (polling is the measurement)
        await asyncio.sleep(0.005)
    return sid, time.perf_counter() - started


def worker_pid(ref: str) -> int:
    """The pid of the process runner's worker ``ref`` (``pid:start time``)."""
    return int(ref.split(":")[0])


def process_memory(pid: int) -> tuple[float, float]:
    """RSS and private memory (USS) of process ``pid``, in MiB."""
    info = psutil.Process(pid).memory_full_info()
    return info.rss / 2**20, info.uss / 2**20


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


def sim_environment(data: str, sim_url: str, **env: str) -> dict[str, str]:
    """The variables of a core on a private embedded Redis in ``data`` (sim engine at ``sim_url``, the
    benchmarks' API key, a free port, no start spacing); ``env`` adds settings."""
    return {
        "DATA_DIR": data,
        "API_KEY": API_KEY,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "ORCH_PORT": str(free_port()),
        "WORKER_ENGINE": "sim",
        "SIM_URL": sim_url,
        "PROVISIONING_INTERVAL_MS": "0",
        "PATH": os.environ["PATH"],
        **env,
    }


async def wait_all(store: SessionStore, ids: list[str], status: str, timeout: float) -> None:
    """Until every session of ``ids`` has ``status`` (``TimeoutError`` after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        sessions = [await store.get(sid) for sid in ids]
        if all(s.status == status for s in sessions):
            return
        if time.monotonic() > deadline:
            counts = statistics.multimode([s.status for s in sessions])
            raise TimeoutError(f"sessions not {status} after {timeout} s ({counts})")
        await asyncio.sleep(0.5)


async def pair_all(store: SessionStore, sim_url: str, ids: list[str]) -> None:
    """Once every session of ``ids`` shows its QR, scan each in the simulator (a phone each); until all are
    connected."""
    await wait_all(store, ids, "qr_ready", 600)
    async with httpx.AsyncClient(trust_env=False) as client:
        for n, sid in enumerate(ids):
            qr = (await store.get(sid)).qr
            (await client.post(f"{sim_url}/sim/scan", json={"qr": qr, "phone": f"97250{n:07d}"})).raise_for_status()
    await wait_all(store, ids, "connected", 300)


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
        settings = load_settings(sim_environment(data, url, **env))
        async with running_service(settings, stop_workers=True, clock=clock) as service:
            yield service.core, url
