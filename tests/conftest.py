"""Shared fixtures: the real embedded Redis, real SOCKS5 proxies (microsocks), the simulator, the service."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import redis.asyncio as aioredis
from event_receiver import EventReceiver
from impostor import Impostor
from redis_servers import KINDS, RedisServer, missing
from socks_recorder import RecordingSocks, RelayingSocks
from support import API_KEY, RunningService, Serve, SocksProxy, free_port
from telegram_standin import TelegramStandIn

from waorch.clock import Clock, ScaledClock
from waorch.config import Settings, load_settings
from waorch.service import running_service
from waorch.sim.server import SimOptions, SimServer


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


# Tests under these paths run on both servers a user may have: the embedded Valkey 8.1 and
# Debian's redis-server 7.0 (no WAITAOF); the others on Valkey. The pacing properties (two
# minutes of real-time sending, pure scheduling) run once: their Lua runs in the sending tests.
BOTH_SERVERS = (
    "tests/core/",
    "tests/test_sending.py",
    "tests/test_crashes.py",
    "tests/test_redis_outages.py",
    "tests/api/test_send_api.py",
)
ONE_SERVER = ("tests/core/test_pacing_properties.py",)


def _on_both(path: str) -> bool:
    return any(part in path for part in BOTH_SERVERS) and not any(part in path for part in ONE_SERVER)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the tests of ``BOTH_SERVERS`` once per Redis server (``[valkey]``, ``[redis7]``)."""
    if "redis_kind" in metafunc.fixturenames and _on_both(metafunc.definition.path.as_posix()):
        metafunc.parametrize("redis_kind", KINDS, indirect=True, scope="session")


@pytest.fixture(scope="session")
def redis_kind(request: pytest.FixtureRequest) -> str:
    """Which Redis server the test runs on (Valkey unless the test is parametrized over both)."""
    kind = getattr(request, "param", "valkey")
    if reason := missing(kind):
        pytest.skip(reason)
    return kind


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory, redis_kind: str) -> Iterator[RedisServer]:
    """One real server of each kind for the whole run (each test flushes it)."""
    server = RedisServer(redis_kind, tmp_path_factory.mktemp(f"redis-{redis_kind}")).start()
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path: Path, redis_kind: str) -> Iterator[Callable[..., RedisServer]]:
    """Factory: a server of the test's kind that only this test uses (to stop, kill or restart it)."""
    started: list[RedisServer] = []

    def make(*extra: str, port: int = 0) -> RedisServer:
        server = RedisServer(redis_kind, tmp_path / f"own-redis-{len(started)}", port, extra).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.kill()


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
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
def sessions_per_worker() -> str:
    """Sessions per worker process (density mode above 1). Modules whose guarantees must hold in both modes
    (the crash tests, the pacing properties, exactly-once sends) override it with a parametrized fixture."""
    return "1"


@pytest.fixture
def make_settings(
    tmp_path: Path, redis_server: RedisServer, redis: aioredis.Redis, sessions_per_worker: str
) -> Callable[..., Settings]:
    """Factory of validated settings for a test: own data dir, shared Redis (flushed: nothing, not even a
    core's lease, carries over from another test), sim engine, fast timers."""

    def make(**overrides: str) -> Settings:
        env = {
            "DATA_DIR": str(tmp_path / "data"),
            "REDIS_URL": redis_server.url,
            "API_KEY": API_KEY,
            "WEBHOOK_SECRET": "test-webhook-secret-0123456789",
            "ORCH_PORT": str(free_port()),
            "WORKER_ENGINE": "sim",
            "SIM_URL": "http://127.0.0.1:9",
            "PROVISIONING_INTERVAL_MS": "0",
            "PING_INTERVAL_MS": "500",
            "WATCHDOG_INTERVAL_MS": "300",
            "MONITOR_INTERVAL_MS": "300",
            "PROXY_COOLDOWN_MS": "60000",
            "SESSIONS_PER_WORKER": sessions_per_worker,
        }
        env.update(overrides)
        return load_settings(env)

    return make


@pytest.fixture
async def sim_factory() -> AsyncIterator[Callable[..., Awaitable[SimServer]]]:
    """Factory: ``await sim_factory(**SimOptions fields)`` starts a simulator (stopped afterwards)."""
    servers: list[SimServer] = []

    async def make(**options: Any) -> SimServer:
        server = SimServer(SimOptions(**{"qr_first_ttl": 5.0, "qr_ttl": 5.0, "qr_count": 3, **options}))
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.stop()


@pytest.fixture
async def sim(sim_factory: Callable[..., Awaitable[SimServer]]) -> SimServer:
    """The WhatsApp network simulator on loopback (QR codes live 30 s, then 10 s)."""
    return await sim_factory(qr_first_ttl=30, qr_ttl=10, qr_count=6)


@pytest.fixture
async def start_service(
    make_settings: Callable[..., Settings], sim: SimServer, redis: aioredis.Redis
) -> AsyncIterator[Callable[..., Awaitable[RunningService]]]:
    """Factory: start the service (core + HTTP) on the shared Redis; workers stopped at the end."""
    stack = contextlib.AsyncExitStack()

    async def start(clock: Clock | None = None, **overrides: str) -> RunningService:
        settings = make_settings(**{"SIM_URL": sim.url, **overrides})
        service = await stack.enter_async_context(running_service(settings, stop_workers=True, clock=clock))
        api = await stack.enter_async_context(
            httpx.AsyncClient(base_url=service.base_url, headers={"X-API-Key": API_KEY}, trust_env=False)
        )
        return RunningService(service, api, settings)

    yield start
    await stack.aclose()


@pytest.fixture
async def scaled(start_service, sim_factory) -> tuple[RunningService, SimServer]:
    """Service and simulator on one clock running 20 times faster than real time."""
    clock = ScaledClock(20)
    sim = await sim_factory(clock=clock, qr_first_ttl=30, qr_ttl=10)
    return await start_service(clock=clock, SIM_URL=sim.url), sim


@pytest.fixture
def serve(tmp_path: Path, sim, socks_proxy, redis_kind: str, sessions_per_worker: str) -> Iterator[Serve]:
    """A ``waorch serve`` process on its own Redis (the embedded default; for redis-server 7.0, one
    of its own given as ``REDIS_URL``); it, its workers and its Redis are gone afterwards."""
    data = tmp_path / "data"
    data.mkdir()
    own = RedisServer(redis_kind, tmp_path / "serve-redis") if redis_kind != "valkey" else None
    server = Serve(data, sim.url, socks_proxy().url, own)
    server.env["SESSIONS_PER_WORKER"] = sessions_per_worker
    yield server
    if server.process and server.process.poll() is None:
        server.stop()
    for process in psutil.process_iter(["environ"]):
        with contextlib.suppress(psutil.Error):
            environ = process.info["environ"] or {}
            if any(environ.get(name, "").startswith(str(data)) for name in ("AUTH_DIR", "HOSTS_DIR")):
                process.kill()
    if own is not None:
        own.kill()
    else:
        with contextlib.suppress(OSError, ValueError, psutil.Error):
            psutil.Process(server.redis_pid()).kill()


@pytest.fixture
async def recording_proxy() -> AsyncIterator[RecordingSocks]:
    """A SOCKS5 server that records the CONNECT it is asked for (and refuses it)."""
    proxy = RecordingSocks()
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def not_whatsapp() -> AsyncIterator[RelayingSocks]:
    """A SOCKS5 proxy whose every connection ends at a local server that answers in plain text, not
    TLS: a worker's dial to WhatsApp through it fails after the proxy, as behind a filtering network."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello, this is not WhatsApp\r\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    proxy = RelayingSocks(server.sockets[0].getsockname()[1])
    await proxy.start()
    yield proxy
    await proxy.close()
    server.close()
    await server.wait_closed()


@pytest.fixture
async def receiver() -> AsyncIterator[EventReceiver]:
    """A local HTTP server that records the events forwarded to it."""
    receiver = EventReceiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture
async def impostor() -> AsyncIterator[Impostor]:
    """A local HTTP server playing a core or a worker it is not; records what it is sent."""
    server = await Impostor().start()
    yield server
    await server.stop()


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramStandIn]:
    """A local Telegram Bot API stand-in that records the alert messages sent to it."""
    async with TelegramStandIn() as server:
        yield server
