"""Helpers shared by the tests: ports, real SOCKS5 servers, polling, the simulated phone."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import jsonschema
import pytest
import redis
from redis_servers import RedisServer

from waorch.api.app import DOCUMENT
from waorch.clock import Clock
from waorch.config import Settings
from waorch.core.core import Core
from waorch.core.runners.hosted import HostedRef
from waorch.errors import WaorchError
from waorch.service import Service, running_service
from waorch.signing import SESSION_HEADER, sign, webhook_key

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
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_listening(self.port)

    def kill(self) -> None:
        """Kill the server process (connections through it break)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


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


async def post_event(
    running: RunningService, session_id: str, kind: str, data: dict, generation: int = 0
) -> httpx.Response:
    """Post an event to the webhook signed with the session's own key, as its worker would."""
    body = json.dumps(
        {
            "sessionId": session_id,
            "type": kind,
            "data": data,
            "generation": generation,
            "timestamp": int(time.time() * 1000),
        }
    ).encode()
    headers = {SESSION_HEADER: session_id, **sign(webhook_key(running.settings.webhook_secret, session_id), body)}
    return await running.api.post("/webhook", content=body, headers=headers)


class Serve:
    """A ``waorch serve`` process with its own data dir, on the embedded default Redis (no REDIS_URL),
    or on ``redis``, a server of the test's own given as ``REDIS_URL``."""

    def __init__(
        self, data_dir: Path, sim_url: str, proxy_url: str | None = None, redis: RedisServer | None = None
    ) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.redis = redis
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": str(data_dir),
            "DATA_DIR": str(data_dir),
            "ORCH_PORT": str(self.port),
            "API_KEY": API_KEY,
            "WEBHOOK_SECRET": "serve-test-secret-0123456789",
            "WORKER_ENGINE": "sim",
            "SIM_URL": sim_url,
            "PROVISIONING_INTERVAL_MS": "0",
            "PING_INTERVAL_MS": "300",
            "WATCHDOG_INTERVAL_MS": "300",
        }
        if proxy_url:
            self.env["PROXY_URL_1"] = proxy_url
        if redis is not None:
            self.env["REDIS_URL"] = redis.url
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *extra: str) -> None:
        """Start the process (and its own Redis server, if that is not running) and wait for ``/health``."""
        if self.redis is not None and (self.redis.process is None or self.redis.process.poll() is not None):
            self.redis.start()
        with open(self.data_dir.parent / "serve.log", "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "waorch", "serve", *extra],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.data_dir.parent,
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise TimeoutError("waorch serve did not come up")

    def api(self) -> httpx.AsyncClient:
        """An API client with the key."""
        return httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.port}", headers={"X-API-Key": API_KEY}, trust_env=False
        )

    def kill(self) -> None:
        """``kill -9`` the orchestrator (its embedded Redis and the workers keep running)."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def redis_pid(self) -> int:
        """Pid of its Redis server."""
        if self.redis is not None:
            return self.redis.pid
        return int((self.data_dir / "redis" / "redis.pid").read_text())

    @property
    def redis_socket(self) -> Path:
        return self.redis.socket_path if self.redis is not None else self.data_dir / "redis" / "redis.sock"

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(15)

    def session_hash(self, session_id: str) -> dict[str, str]:
        client = redis.Redis(unix_socket_path=str(self.redis_socket), decode_responses=True)
        try:
            return client.hgetall(f"waorch:session:{session_id}")
        finally:
            client.close()


DOC = DOCUMENT


def conforms(method: str, template: str, response: httpx.Response) -> None:
    """The response matches what the OpenAPI document promises for it."""
    operation = DOC["paths"][template][method.lower()]
    assert str(response.status_code) in operation["responses"], (
        f"{response.status_code} not documented for {method} {template}"
    )
    schema = operation["responses"][str(response.status_code)]["content"]["application/json"]["schema"]
    jsonschema.validate(response.json(), {**schema, "components": DOC["components"]})


def every_kind(root: type[WaorchError] = WaorchError) -> list[type[WaorchError]]:
    """``root`` and every class of error below it."""
    return [root, *(kind for child in root.__subclasses__() for kind in every_kind(child))]


def worker_pid(ref: str) -> int:
    """The pid of the process a session's worker runs in: its own, or its worker host's (density mode)."""
    hosted = HostedRef.parse(ref)
    return int((hosted.process if hosted else ref).split(":")[0])


@pytest.fixture(params=["1", "3"], ids=["own-process", "density-3"], name="sessions_per_worker")
def both_worker_modes(request: pytest.FixtureRequest) -> str:
    """Import it into a module whose guarantees must hold with a process per session and with three sessions per
    worker host (density mode): it overrides conftest's ``sessions_per_worker`` there."""
    return str(request.param)


@contextlib.asynccontextmanager
async def orchestrator(
    settings: Settings, *, stop_workers: bool, clock: Clock | None = None
) -> AsyncIterator[RunningService]:
    """A core with its HTTP server on ``settings`` (its Redis too), left with its workers running unless
    ``stop_workers``: enter it again with the same settings (and clock) to restart the orchestrator."""
    async with (
        running_service(settings, stop_workers=stop_workers, clock=clock) as service,
        httpx.AsyncClient(base_url=service.base_url, headers={"X-API-Key": API_KEY}, trust_env=False) as api,
    ):
        yield RunningService(service, api, settings)
