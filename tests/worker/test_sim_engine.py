"""The sim engine against a real simulator, through real SOCKS5 proxies (microsocks)."""

from __future__ import annotations

import asyncio
import json
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from socks_recorder import HangingUpSocks
from support import free_port

from waorch.sim import SimServer
from waorch.worker.engine import EngineConfig, EngineError
from waorch.worker.sim_engine import AUTH_FILE, SimEngine

PHONE = "972501111111"
OTHER = "972502222222"

pytestmark = pytest.mark.timeout(10)


class RecordingSink:
    """An EventSink that keeps every event and lets a test wait for the next one of a type."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    async def emit(self, type: str, data: dict[str, Any]) -> None:
        self.events.append((type, data))
        self._queue.put_nowait((type, data))

    async def next(self, kind: str, timeout: float = 3.0) -> dict[str, Any]:
        """The next event of type ``kind`` (events of other types are passed over)."""
        async with asyncio.timeout(timeout):
            while True:
                got, data = await self._queue.get()
                if got == kind:
                    return data

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]


@dataclass
class Running:
    """An engine whose ``run()`` is going on in ``task``."""

    engine: SimEngine
    sink: RecordingSink
    task: asyncio.Task[str]
    auth_dir: Path

    async def result(self, timeout: float = 3.0) -> str:
        return await asyncio.wait_for(asyncio.shield(self.task), timeout)


Start = Callable[..., Running]
Sims = Callable[..., Awaitable[SimServer]]


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    """Factory: ``start(sim_url, proxy_url=None, auth_dir=tmp/auth)`` runs a SimEngine."""
    running: list[Running] = []

    def make(sim_url: str, proxy_url: str | None = None, auth_dir: Path | None = None) -> Running:
        directory = auth_dir or tmp_path / "auth"
        engine = SimEngine(EngineConfig("worker_1", directory, proxy_url, sim_url=sim_url, device_name="test"))
        sink = RecordingSink()
        running.append(Running(engine, sink, asyncio.create_task(engine.run(sink)), directory))
        return running[-1]

    yield make
    for item in running:
        await item.engine.stop()
        await asyncio.gather(item.task, return_exceptions=True)


async def call(sim: SimServer, method: str, path: str, body: Any = None) -> Any:
    """A control API call that must succeed; its JSON answer."""
    async with aiohttp.ClientSession() as http, http.request(method, sim.url + path, json=body) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def connect(sim: SimServer, running: Running, phone: str = PHONE) -> None:
    """Scan the engine's QR code and wait until it is connected."""
    qr = await running.sink.next("QR_CODE")
    await call(sim, "POST", "/sim/scan", {"qr": qr["qr"], "phone": phone})
    assert await running.sink.next("CONNECTED") == {"phoneNumber": phone}


async def test_qr_codes_rotate_and_auth_data_is_private(
    sim_factory: Sims, start: Start, socks_proxy: Callable[..., Any]
) -> None:
    sim = await sim_factory(qr_first_ttl=0.3, qr_ttl=0.3)
    running = start(sim.url, socks_proxy().url)
    first = await running.sink.next("QR_CODE")
    second = await running.sink.next("QR_CODE")
    assert first["qr"] != second["qr"] and first["ttl"] == second["ttl"] == 0.3
    assert second["expiresAt"] - first["expiresAt"] == pytest.approx(0.3, abs=0.15)
    ref, noise, identity, adv = second["qr"].split(",")
    assert ref.startswith("2@") and first["qr"].split(",")[1:] == [noise, identity, adv]
    assert stat.S_IMODE(running.auth_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((running.auth_dir / AUTH_FILE).stat().st_mode) == 0o600


async def test_scan_connects_and_the_login_is_kept(
    sim: SimServer, start: Start, socks_proxy: Callable[..., Any]
) -> None:
    proxy = socks_proxy()
    first = start(sim.url, proxy.url)
    await connect(sim, first)
    token = json.loads((first.auth_dir / AUTH_FILE).read_text())["token"]
    await first.engine.stop()
    assert await first.result() == "stopped"
    second = start(sim.url, proxy.url, first.auth_dir)
    assert await second.sink.next("CONNECTED") == {"phoneNumber": PHONE}
    assert second.sink.kinds() == ["CONNECTED"]
    assert token not in str(first.sink.events + second.sink.events)


async def test_proxy_with_password(sim: SimServer, start: Start, socks_proxy: Callable[..., Any]) -> None:
    running = start(sim.url, socks_proxy("user", "s3cret-pass").url)
    await connect(sim, running)


async def test_send_text_typing_and_not_on_whatsapp(
    sim: SimServer, start: Start, socks_proxy: Callable[..., Any]
) -> None:
    running = start(sim.url, socks_proxy().url)
    await connect(sim, running)
    result = await running.engine.send_text(OTHER, "hello", "msg-1")
    assert result.ok and result.wa_id and result.wa_id.startswith("3EB0")
    log = await call(sim, "GET", f"/sim/phones/{PHONE}/messages")
    assert [(m["waId"], m["messageId"], m["to"], m["text"]) for m in log] == [(result.wa_id, "msg-1", OTHER, "hello")]
    started = time.monotonic()
    await running.engine.typing(OTHER, 0.2)
    assert 0.2 <= time.monotonic() - started < 1.0  # room for a busy machine; a stuck typing would take far more
    await call(sim, "POST", "/sim/unregistered", {"phone": OTHER})
    failed = await running.engine.send_text(OTHER, "hello", "msg-2")
    assert (failed.ok, failed.error, failed.permanent) == (False, "NOT_ON_WHATSAPP", True)
    presences = await call(sim, "GET", f"/sim/phones/{PHONE}/presences")
    assert [(p["to"], p["state"]) for p in presences] == [(OTHER, "composing"), (OTHER, "paused")]


async def test_operations_need_a_connection(sim: SimServer, tmp_path: Path) -> None:
    engine = SimEngine(EngineConfig("worker_1", tmp_path / "auth", None, sim_url=sim.url))
    for operation in (engine.send_text(OTHER, "x", "m"), engine.typing(OTHER, 0.1), engine.logout()):
        with pytest.raises(EngineError) as caught:
            await operation
        assert caught.value.code == "NOT_CONNECTED"
    with pytest.raises(EngineError):
        SimEngine(EngineConfig("worker_1", tmp_path / "auth", None))


async def test_incoming_message(sim: SimServer, start: Start) -> None:
    running = start(sim.url)
    await connect(sim, running)
    sent = await call(sim, "POST", f"/sim/phones/{PHONE}/incoming", {"from": OTHER, "text": "hi"})
    event = await running.sink.next("MESSAGE_RECEIVED")
    assert {key: event[key] for key in ("from", "chat", "text", "waId")} == {
        "from": OTHER,
        "chat": OTHER,
        "text": "hi",
        "waId": sent["waId"],
    }
    assert abs(event["timestamp"] - time.time()) < 2


async def test_pairing_code_login(sim: SimServer, start: Start) -> None:
    running = start(sim.url)
    await running.sink.next("QR_CODE")
    code = await running.engine.pairing_code(PHONE)
    await call(sim, "POST", "/sim/link-code", {"phone": PHONE, "code": code})
    assert await running.sink.next("CONNECTED") == {"phoneNumber": PHONE}
    with pytest.raises(EngineError) as caught:
        await running.engine.pairing_code(PHONE)
    assert caught.value.code == "NOT_IN_QR_PHASE"


async def test_logout_from_the_phone(sim: SimServer, start: Start, socks_proxy: Callable[..., Any]) -> None:
    running = start(sim.url, socks_proxy().url)
    await connect(sim, running)
    await call(sim, "POST", f"/sim/phones/{PHONE}/logout")
    event = await running.sink.next("DISCONNECTED")
    assert (event["reason"], event["loggedOut"]) == ("logged_out", True) and event["detail"]
    assert await running.result() == "logged_out"
    assert not (running.auth_dir / AUTH_FILE).exists()


async def test_logout_from_the_engine(sim: SimServer, start: Start) -> None:
    running = start(sim.url)
    await connect(sim, running)
    await running.engine.logout()
    assert running.task.done() and running.task.result() == "logged_out"
    assert (await running.sink.next("DISCONNECTED"))["loggedOut"] is True
    assert not (running.auth_dir / AUTH_FILE).exists()
    assert await call(sim, "GET", "/sim/devices") == []


async def test_lost_connection_reconnects(sim: SimServer, start: Start, socks_proxy: Callable[..., Any]) -> None:
    running = start(sim.url, socks_proxy().url)
    await connect(sim, running)
    await call(sim, "POST", f"/sim/phones/{PHONE}/disconnect")
    event = await running.sink.next("DISCONNECTED")
    assert (event["reason"], event["loggedOut"]) == ("connection_lost", False)
    assert await running.sink.next("CONNECTED") == {"phoneNumber": PHONE}


async def test_simulator_restart_behind_a_working_proxy(
    tmp_path: Path, sim_factory: Sims, start: Start, socks_proxy: Callable[..., Any]
) -> None:
    sim = await sim_factory(state_path=tmp_path / "sim.json")
    running = start(sim.url, socks_proxy().url)
    await connect(sim, running)
    await sim.stop()
    assert (await running.sink.next("DISCONNECTED"))["reason"] == "connection_lost"
    down = await running.sink.next("DISCONNECTED")  # said once, however often it is tried again
    assert down["reason"] == "simulator_down" and "Connection refused by destination host" in down["detail"]
    await asyncio.sleep(0.5)
    await sim_factory(state_path=tmp_path / "sim.json", port=sim.port)
    assert await running.sink.next("CONNECTED", timeout=4.0) == {"phoneNumber": PHONE}
    assert "PROXY_ERROR" not in running.sink.kinds() and running.sink.kinds().count("DISCONNECTED") == 2


async def test_proxy_dying_mid_session(sim: SimServer, start: Start, socks_proxy: Callable[..., Any]) -> None:
    proxy = socks_proxy()
    running = start(sim.url, proxy.url)
    await connect(sim, running)
    proxy.kill()
    assert (await running.sink.next("DISCONNECTED"))["reason"] == "connection_lost"
    refused = await running.sink.next("PROXY_ERROR")
    assert refused["reason"] == "proxy_refused" and str(proxy.port) in refused["error"]
    assert refused["error"].startswith("the proxy refused the connection: ") and "port" in refused["hint"]
    assert await running.result() == "proxy_error"
    assert running.sink.kinds()[-2:] == ["DISCONNECTED", "PROXY_ERROR"]


async def test_refusing_proxy_at_start(sim: SimServer, start: Start) -> None:
    started = time.monotonic()
    running = start(sim.url, f"socks5h://127.0.0.1:{free_port()}")
    assert (await running.sink.next("PROXY_ERROR", timeout=1.0))["reason"] == "proxy_refused"
    assert await running.result() == "proxy_error"
    assert time.monotonic() - started < 1.0


async def test_wrong_proxy_password_is_a_proxy_error_without_the_password(
    sim: SimServer, start: Start, socks_proxy: Callable[..., Any]
) -> None:
    proxy = socks_proxy("acct-7f3k9q", "right-pass")
    running = start(sim.url, f"socks5h://acct-7f3k9q:wrong-pass@127.0.0.1:{proxy.port}")
    event = await running.sink.next("PROXY_ERROR", timeout=1.0)
    assert event["reason"] == "proxy_auth" and "wrong-pass" not in event["error"]
    assert event["error"].startswith("the proxy refused the user name or password: ")
    assert "acct-7f3k9q" not in event["error"] and "***@127.0.0.1" in event["error"]
    assert await running.result() == "proxy_error"


async def test_a_proxy_hanging_up_in_the_handshake_is_a_proxy_error(sim: SimServer, start: Start) -> None:
    proxy = HangingUpSocks()
    await proxy.start()
    try:
        running = start(sim.url, proxy.url())
        event = await running.sink.next("PROXY_ERROR", timeout=2.0)
        assert event["reason"] == "proxy_closed" and event["error"].startswith("the proxy closed the connection: ")
        assert await running.result() == "proxy_error"
    finally:
        await proxy.close()


async def test_temporary_ban_then_reconnect(sim: SimServer, start: Start, socks_proxy: Callable[..., Any]) -> None:
    running = start(sim.url, socks_proxy().url)
    await connect(sim, running)
    ban = await call(sim, "POST", f"/sim/phones/{PHONE}/ban", {"seconds": 0.5, "code": 101})
    event = await running.sink.next("DISCONNECTED")
    assert (event["reason"], event["loggedOut"], event["code"]) == ("temporary_ban", False, 101)
    assert event["expiresAt"] == ban["expiresAt"]
    assert await running.sink.next("CONNECTED") == {"phoneNumber": PHONE}
    assert time.time() >= ban["expiresAt"]
    assert running.sink.kinds().count("DISCONNECTED") == 1


async def test_qr_timeout(sim_factory: Sims, start: Start) -> None:
    sim = await sim_factory(qr_first_ttl=0.2, qr_ttl=0.2, qr_count=2)
    running = start(sim.url)
    event = await running.sink.next("AUTH_FAILURE")
    assert event["reason"] == "qr_timeout" and event["detail"]
    assert await running.result() == "qr_timeout"
    assert running.sink.kinds() == ["QR_CODE", "QR_CODE", "AUTH_FAILURE"]


async def test_a_simulator_that_is_down_is_said_once_and_stop_still_works(start: Start) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    running = start(url)
    down = await running.sink.next("DISCONNECTED")
    assert down["reason"] == "simulator_down" and down["detail"].startswith(
        f"the simulator does not answer: {url}/ws: "
    )
    assert "waorch sim" in down["hint"]
    await asyncio.sleep(0.5)  # several more attempts
    await running.engine.stop()
    assert await running.result(timeout=1.0) == "stopped"
    assert running.sink.kinds() == ["DISCONNECTED"]


async def test_a_proxy_that_needs_a_login_given_none_is_a_proxy_auth_error(
    sim: SimServer, start: Start, socks_proxy: Callable[..., Any]
) -> None:
    proxy = socks_proxy("user", "right-pass")
    running = start(sim.url, f"socks5h://127.0.0.1:{proxy.port}")
    event = await running.sink.next("PROXY_ERROR", timeout=1.0)
    assert event["reason"] == "proxy_auth" and "No acceptable authentication methods" in event["error"]


async def test_second_client_with_same_login_replaces_the_first(tmp_path: Path, sim: SimServer, start: Start) -> None:
    first = start(sim.url)
    await connect(sim, first)
    second_dir = tmp_path / "copy"
    second_dir.mkdir(mode=0o700)
    (second_dir / AUTH_FILE).write_bytes((first.auth_dir / AUTH_FILE).read_bytes())
    second = start(sim.url, auth_dir=second_dir)
    assert await second.sink.next("CONNECTED") == {"phoneNumber": PHONE}
    event = await first.sink.next("DISCONNECTED")
    assert (event["reason"], event["loggedOut"]) == ("stream_replaced", False)
    assert await first.result() == "stream_replaced"
