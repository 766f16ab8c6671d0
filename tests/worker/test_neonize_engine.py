"""The neonize engine with the real neonize library, offline: through SOCKS5 servers on loopback
that record what they are asked, refuse, or never answer; in-process and as real worker processes."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from socks_recorder import ATYP_DOMAIN, RecordingSocks, SilentSocks

from waorch.worker.engine import EngineConfig, EngineError
from waorch.worker.neonize.engine import NeonizeEngine
from waorch.worker.neonize.files import DATABASE
from waorch.worker.neonize.hard_exit import EXIT_HUNG

pytestmark = pytest.mark.timeout(20)

WHATSAPP_HOSTS = ("web.whatsapp.com", "g.whatsapp.net")
SECRET = "secretpass"
USER = "acct-7f3k9q"  # providers put account tokens in the user name: masked like the password


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RecordingSink:
    """An EventSink that keeps every event."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def emit(self, type: str, data: dict[str, Any]) -> None:
        self.events.append((type, data))


class Webhook:
    """The orchestrator's webhook as a worker process sees it: keeps every event posted."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/webhook", self._post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/webhook"  # type: ignore[union-attr]

    async def _post(self, request: web.Request) -> web.Response:
        self.events.append({**await request.json(), "receivedAt": time.monotonic()})
        return web.json_response({"ok": True})

    def first(self, kind: str) -> dict[str, Any] | None:
        return next((event for event in self.events if event["type"] == kind), None)

    async def close(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


@pytest.fixture
async def webhook() -> AsyncIterator[Webhook]:
    server = Webhook()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def silent_proxy() -> AsyncIterator[SilentSocks]:
    proxy = SilentSocks()
    await proxy.start()
    yield proxy
    await proxy.close()


def engine_for(auth_dir: Path, proxy_url: str | None, **options: Any) -> NeonizeEngine:
    return NeonizeEngine(EngineConfig(session_id="worker_1", auth_dir=auth_dir, proxy_url=proxy_url, options=options))


def worker_env(tmp_path: Path, webhook: Webhook, proxy_url: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "SESSION_ID": "worker_1",
        "WEBHOOK_URL": webhook.url,
        "WEBHOOK_KEY": "k",
        "COMMAND_KEY": "c",
        "AUTH_DIR": str(tmp_path / "auth"),
        "WORKER_ENGINE": "neonize",
        "PROXY_URL": proxy_url,
        "PING_INTERVAL_MS": "60000",
    }


async def run_process(args: list[str], env: dict[str, str], timeout: float) -> tuple[int, str, float]:
    """Run a worker process to its end: exit code, everything it printed, seconds it lived."""
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        output, _ = await process.communicate()
        pytest.fail(f"the worker did not exit within {timeout} s:\n{output.decode(errors='replace')}")
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace"), time.monotonic() - started


async def test_connects_through_its_proxy_asking_it_for_whatsapps_host_name(
    tmp_path: Path, recording_proxy: RecordingSocks
) -> None:
    sink = RecordingSink()
    engine = engine_for(tmp_path / "auth", recording_proxy.url(auth=f"{USER}:{SECRET}"))
    assert await asyncio.wait_for(engine.run(sink), 10) == "proxy_error"
    request = await recording_proxy.first_request()
    assert request.address_type == ATYP_DOMAIN, "the worker resolved the host name itself"
    assert request.host in WHATSAPP_HOSTS and request.port == 443
    assert (request.username, request.password) == (USER, SECRET)
    assert [kind for kind, _ in sink.events] == ["PROXY_ERROR"]
    assert SECRET not in str(sink.events) and USER not in str(sink.events)


async def test_a_refusing_proxy_is_a_proxy_error_within_seconds(tmp_path: Path) -> None:
    sink = RecordingSink()
    engine = engine_for(tmp_path / "auth", f"socks5h://{USER}:{SECRET}@127.0.0.1:{closed_port()}")
    started = time.monotonic()
    assert await asyncio.wait_for(engine.run(sink), 10) == "proxy_error"
    assert time.monotonic() - started < 3
    ((kind, data),) = sink.events
    assert (
        kind == "PROXY_ERROR"
        and "connection refused" in data["error"]
        and SECRET not in data["error"]
        and USER not in data["error"]
    )


async def test_auth_dir_and_database_are_private(tmp_path: Path) -> None:
    auth_dir = tmp_path / "auth"
    auth_dir.mkdir(mode=0o755)
    engine = engine_for(auth_dir, f"socks5://127.0.0.1:{closed_port()}")
    assert await asyncio.wait_for(engine.run(RecordingSink()), 10) == "proxy_error"
    assert stat.S_IMODE(auth_dir.stat().st_mode) == 0o700
    files = list(auth_dir.iterdir())
    assert auth_dir / DATABASE in files
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in files} == {path.name: 0o600 for path in files}


async def test_commands_need_a_live_connection(tmp_path: Path) -> None:
    engine = engine_for(tmp_path / "auth", f"socks5://127.0.0.1:{closed_port()}")
    assert await asyncio.wait_for(engine.run(RecordingSink()), 10) == "proxy_error"
    for command in (engine.send_text("972501111111", "hi", "m1"), engine.typing("972501111111", 0.1), engine.logout()):
        with pytest.raises(EngineError) as raised:
            await command
        assert raised.value.code == "NOT_CONNECTED"
    with pytest.raises(EngineError) as raised:
        await asyncio.wait_for(engine.pairing_code("972501111111"), 5)
    assert raised.value.code == "NOT_IN_QR_PHASE"


async def test_stop_before_run_and_bad_options(tmp_path: Path) -> None:
    engine = engine_for(tmp_path / "auth", None)
    await engine.stop()
    assert await engine.run(RecordingSink()) == "stopped"
    with pytest.raises(EngineError) as raised:
        engine_for(tmp_path / "auth", None, connect_timeout="soon")
    assert raised.value.code == "CONFIG"


async def test_worker_process_asks_the_proxy_for_whatsapp_and_reports_its_refusal(
    tmp_path: Path, webhook: Webhook, recording_proxy: RecordingSocks
) -> None:
    env = worker_env(tmp_path, webhook, recording_proxy.url(auth=f"{USER}:{SECRET}"))
    started = time.monotonic()
    code, output, _ = await run_process([sys.executable, "-m", "waorch", "worker"], env, timeout=15)
    request = await recording_proxy.first_request(timeout=1)
    assert request.address_type == ATYP_DOMAIN and request.host in WHATSAPP_HOSTS and request.port == 443
    proxy_error = webhook.first("PROXY_ERROR")
    assert proxy_error is not None, output
    assert proxy_error["sessionId"] == "worker_1" and proxy_error["receivedAt"] - started < 10
    assert code == 3, output
    assert SECRET not in output + str(webhook.events) and USER not in output + str(webhook.events)


@pytest.mark.timeout(30)
async def test_worker_process_behind_a_silent_proxy_exits_within_the_bound(
    tmp_path: Path, webhook: Webhook, silent_proxy: SilentSocks
) -> None:
    env = worker_env(tmp_path, webhook, silent_proxy.url(auth=f"{USER}:{SECRET}"))
    code, output, lived = await run_process(
        [sys.executable, "-m", "waorch", "worker"], {**env, "CONNECT_TIMEOUT_MS": "3000"}, timeout=20
    )
    assert silent_proxy.accepted >= 1
    assert code == EXIT_HUNG, output
    assert 3 <= lived < 3 + 5 + 4, f"lived {lived:.1f} s"  # bound, then at most the 5 s grace for last events
    proxy_error = webhook.first("PROXY_ERROR")
    assert proxy_error is not None and proxy_error["data"]["error"] == "the proxy did not answer: no answer within 3 s"
    assert proxy_error["data"]["reason"] == "proxy_silent"
    assert "no answer within 3 s" in output and SECRET not in output and USER not in output
