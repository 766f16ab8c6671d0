"""Fixtures for simulator tests: a real SimServer on loopback and real WebSocket clients."""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from waorch.sim import SimServer


class WsDevice:
    """A worker as the simulator sees it: one WebSocket speaking the JSON protocol."""

    def __init__(self, http: aiohttp.ClientSession, url: str, keys: dict[str, str] | None = None) -> None:
        self.http = http
        self.url = url
        self.keys = keys or {
            key: base64.b64encode(secrets.token_bytes(32)).decode() for key in ("noise", "identity", "adv")
        }
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.token: str | None = None

    async def connect(self, token: str | None = None) -> WsDevice:
        """Open the WebSocket and say hello (with a login token if given)."""
        self.ws = await self.http.ws_connect(self.url + "/ws")
        await self.ws.send_json({"type": "hello", **self.keys, "name": "test", "token": token})
        return self

    def payload(self, ref: str) -> str:
        """The QR payload this device would show for ``ref``."""
        return ",".join((ref, self.keys["noise"], self.keys["identity"], self.keys["adv"]))

    async def receive(self, timeout: float = 3.0) -> dict[str, Any] | None:
        """The next JSON message, or None once the simulator closed the connection."""
        assert self.ws is not None
        frame = await self.ws.receive(timeout=timeout)
        return frame.json() if frame.type == aiohttp.WSMsgType.TEXT else None

    async def expect(self, kind: str, timeout: float = 3.0) -> dict[str, Any]:
        """The next message, which must be of type ``kind``."""
        message = await self.receive(timeout)
        assert message is not None and message["type"] == kind, message
        return message

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send a request with a reqId and return the answer."""
        assert self.ws is not None
        await self.ws.send_json({**message, "reqId": "r1"})
        answer = await self.receive()
        assert answer is not None and answer["reqId"] == "r1", answer
        return answer

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


@pytest.fixture
async def quick_sim(sim_factory: Callable[..., Awaitable[SimServer]]) -> SimServer:
    """A simulator with 5 s QR codes (the shared ``sim`` fixture's live 30 s)."""
    return await sim_factory()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def device(http: aiohttp.ClientSession, quick_sim: SimServer) -> AsyncIterator[Callable[..., WsDevice]]:
    """Factory ``device(url=quick_sim.url, keys=new keys)`` of WebSocket devices (closed afterwards)."""
    made: list[WsDevice] = []

    def make(url: str | None = None, keys: dict[str, str] | None = None) -> WsDevice:
        made.append(WsDevice(http, url or quick_sim.url, keys))
        return made[-1]

    yield make
    for item in made:
        await item.close()


@pytest.fixture
def api(http: aiohttp.ClientSession, quick_sim: SimServer) -> Callable[..., Awaitable[tuple[int, Any]]]:
    """``await api(method, path, json=...)`` → (status, JSON body) against the control API."""

    async def call(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with http.request(method, quick_sim.url + path, **kwargs) as response:
            return response.status, await response.json()

    return call


@pytest.fixture
def paired(
    device: Callable[..., WsDevice], api: Callable[..., Awaitable[tuple[int, Any]]]
) -> Callable[..., Awaitable[WsDevice]]:
    """``await paired(phone)``: a connected device paired with ``phone`` (its token in ``.token``)."""

    async def make(phone: str = "972501111111") -> WsDevice:
        item = await device().connect()
        qr = await item.expect("qr")
        status, body = await api("POST", "/sim/scan", json={"qr": item.payload(qr["ref"]), "phone": phone})
        assert status == 200, body
        item.token = (await item.expect("paired"))["token"]
        await item.expect("connected")
        return item

    return make
