"""Shared fixtures: the real embedded Redis, real SOCKS5 proxies (microsocks), the simulator, the service."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
import redis.asyncio as aioredis

from waorch.config import Settings, load_settings
from waorch.core.embedded_redis import EmbeddedRedis
from waorch.core.orchestrator import Core
from waorch.service import Service, running_service
from waorch.sim.server import SimOptions, SimServer

T = TypeVar("T")
API_KEY = "test-api-key-0123456789abcdef"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, timeout: float = 5.0) -> None:
    """Block until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@dataclass
class SocksProxy:
    """A real microsocks SOCKS5 server on loopback that a test can kill and restart."""

    port: int
    user: str | None = None
    password: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """``socks5h://[user:pass@]127.0.0.1:port``."""
        auth = f"{self.user}:{self.password}@" if self.user else ""
        return f"socks5h://{auth}127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or restart) the server and wait until it listens."""
        args = ["microsocks", "-i", "127.0.0.1", "-p", str(self.port)]
        if self.user:
            args += ["-u", self.user, "-P", self.password or ""]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(self.port)

    def kill(self) -> None:
        """Kill the server process (connections through it break)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def socks_proxy() -> Iterator[Callable[..., SocksProxy]]:
    """Factory: ``socks_proxy(user=None, password=None)`` starts a new microsocks server."""
    if shutil.which("microsocks") is None:
        pytest.skip("microsocks is not installed (apt-get install microsocks)")
    started: list[SocksProxy] = []

    def make(user: str | None = None, password: str | None = None) -> SocksProxy:
        proxy = SocksProxy(free_port(), user, password)
        proxy.start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.kill()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """One real embedded Valkey server for the whole run (each test flushes it)."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.directory.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(server.arguments(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not server.socket_path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    yield server
    process.terminate()
    process.wait(10)


@pytest.fixture
async def redis(redis_server: EmbeddedRedis) -> AsyncIterator[aioredis.Redis]:
    """A client of the shared server, on an empty database."""
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    for _ in range(200):
        try:
            await client.flushall()
            break
        except (aioredis.ConnectionError, aioredis.BusyLoadingError):
            await asyncio.sleep(0.02)
    yield client
    await client.aclose()


@pytest.fixture
def make_settings(tmp_path: Path, redis_server: EmbeddedRedis) -> Callable[..., Settings]:
    """Factory of validated settings for a test: own data dir, shared Redis, sim engine, fast timers."""

    def make(**overrides: str) -> Settings:
        env = {
            "DATA_DIR": str(tmp_path / "data"), "REDIS_URL": redis_server.url,
            "API_KEY": API_KEY, "WEBHOOK_SECRET": "test-webhook-secret-0123456789",
            "ORCH_PORT": str(free_port()), "WORKER_ENGINE": "sim", "SIM_URL": "http://127.0.0.1:9",
            "PROVISIONING_INTERVAL_MS": "0", "PING_INTERVAL_MS": "500", "WATCHDOG_INTERVAL_MS": "300",
            "MONITOR_INTERVAL_MS": "300", "PROXY_COOLDOWN_MS": "60000",
        }
        env.update(overrides)
        return load_settings(env)

    return make


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    """The WhatsApp network simulator on loopback, with short QR lifetimes."""
    server = SimServer(SimOptions(qr_first_ttl=30, qr_ttl=10, qr_count=6))
    await server.start()
    yield server
    await server.stop()


@dataclass
class RunningService:
    """A core with its HTTP server, and an API client carrying the key."""

    service: Service
    api: httpx.AsyncClient
    settings: Settings

    @property
    def core(self) -> Core:
        """The running core."""
        return self.service.core


@pytest.fixture
async def start_service(make_settings: Callable[..., Settings], sim: SimServer, redis: aioredis.Redis) -> AsyncIterator[Callable[..., Awaitable[RunningService]]]:
    """Factory: start the service (core + HTTP) on the shared Redis; workers stopped at the end."""
    stack = contextlib.AsyncExitStack()

    async def start(**overrides: str) -> RunningService:
        settings = make_settings(SIM_URL=sim.url, **overrides)
        service = await stack.enter_async_context(running_service(settings, stop_workers=True))
        api = await stack.enter_async_context(httpx.AsyncClient(base_url=service.base_url, headers={"X-API-Key": API_KEY}, trust_env=False))
        return RunningService(service, api, settings)

    yield start
    await stack.aclose()


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 10.0, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns a truthy value (returned) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value {value!r})")
        await asyncio.sleep(interval)


async def wait_status(api: httpx.AsyncClient, session_id: str, status: str, timeout: float = 10.0) -> dict:
    """Poll the API until the session has ``status``; return its body."""

    async def check() -> dict | None:
        body = (await api.get(f"/api/sessions/{session_id}")).json()
        return body if body.get("status") == status else None

    return await eventually(check, timeout)


async def scan(sim_url: str, qr: str, phone: str) -> httpx.Response:
    """Play the phone: scan the QR in the simulator."""
    async with httpx.AsyncClient(trust_env=False) as client:
        return await client.post(f"{sim_url}/sim/scan", json={"qr": qr, "phone": phone})
