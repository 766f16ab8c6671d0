"""The worker-facing WebSocket (``GET /ws``): JSON messages, one object per frame.

Client → simulator:

- ``hello {noise, identity, adv, name?, token?}`` first. Without a token the device is new and
  enters the QR phase; with one it logs in.
- ``send {reqId, to, text, messageId}`` → ``ack {reqId, waId}`` or
  ``error {reqId, code, message, permanent}``
- ``presence {to, state: "composing"|"paused"}`` (no answer)
- ``pair_phone {reqId, phone}`` during the QR phase → ``pair_code {reqId, code}``
- ``logout {}`` → ``logged_out {reason: "user_logout"}``, then the simulator closes

Simulator → client:

- ``qr {ref, ttl, expiresAt}`` for every rotation, then ``qr_timeout`` and close if nobody scans
- ``paired {phone, token, deviceId}`` (keep the token: it is the login), then
  ``connected {phone, deviceId}``
- ``message {from, chat, text, waId, timestamp}`` for incoming messages
- ``logged_out {reason}``, ``banned {code, expiresAt}`` or ``replaced``, each followed by close
- ``error {code, message}`` for a bad hello or request
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from waorch.sim.link import Link
from waorch.sim.network import NETWORK, SimNetwork
from waorch.sim.options import OPTIONS, SimOptions
from waorch.sim.state import Device, SimError, check_phone

HELLO_TIMEOUT = 10.0
PRESENCE_STATES = ("composing", "paused")

Reply = dict[str, Any] | None


async def handle_ws(request: web.Request) -> web.WebSocketResponse:
    """Serve one worker connection until either side closes it."""
    ws = web.WebSocketResponse(heartbeat=20.0, timeout=2.0)
    await ws.prepare(request)
    net = request.app[NETWORK]
    link = Link(ws)
    net.links.add(link)
    try:
        await Connection(net, link, request.app[OPTIONS]).serve(ws)
    finally:
        net.links.discard(link)
        await link.close()
    return ws


class Connection:
    """One worker's session on the simulator: hello, pairing or login, then requests."""

    def __init__(self, net: SimNetwork, link: Link, options: SimOptions) -> None:
        self.net = net
        self.link = link
        self.options = options
        self.device: Device | None = None
        self._qr_task: asyncio.Task[None] | None = None
        self._qr_closing = False
        self._handlers: dict[str, Callable[[dict[str, Any]], Awaitable[Reply]]] = {
            "send": self._send,
            "presence": self._presence,
            "pair_phone": self._pair_phone,
            "logout": self._logout,
            "exists": self._exists,
        }

    async def serve(self, ws: web.WebSocketResponse) -> None:
        """Run the session on ``ws``."""
        try:
            if not await self._start(await _read_hello(ws)):
                return
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    await self._on_request(frame.data)
        except SimError as exc:
            await self.link.close({"type": "error", "code": exc.code, "message": exc.message})
        finally:
            await self._end()

    async def _start(self, hello: dict[str, Any]) -> bool:
        """Log in with the hello's token, or register a new device and start its QR phase."""
        keys = (hello["noise"], hello["identity"], hello["adv"])
        token = hello.get("token")
        if isinstance(token, str) and token:
            return await self._resume(token, keys[1])
        self.device = self.net.state.add_device(keys, str(hello.get("name") or "waorch"))
        self._qr_task = asyncio.create_task(self._qr_phase(self.device))
        return True

    async def _resume(self, token: str, identity: str) -> bool:
        """Log a paired device back in, unless its login is void or its phone is banned."""
        device = self.net.state.login(token, identity)
        if device is None or device.phone is None:
            await self.link.close({"type": "logged_out", "reason": "device_removed"})
            return False
        ban = self.net.state.active_ban(device.phone)
        if ban is not None:
            await self.link.close(ban.to_message())
            return False
        self.device = device
        await self.net.go_online(device, self.link)
        return True

    async def _qr_phase(self, device: Device) -> None:
        """Show rotating refs until the device is paired or ``qr_count`` refs went unscanned."""
        device.pairing = asyncio.get_running_loop().create_future()
        for index in range(self.options.qr_count):
            ttl = self.options.qr_first_ttl if index == 0 else self.options.qr_ttl
            ref = self.net.state.issue_ref(device, ttl)
            await self.link.send({"type": "qr", "ref": ref.value, "ttl": ttl, "expiresAt": ref.expires_at})
            await asyncio.wait([device.pairing], timeout=ttl)
            if device.pairing.done():
                await self._paired(device, device.pairing.result())
                return
        self.net.state.end_qr_phase(device)
        self._qr_closing = True
        await self.link.close({"type": "qr_timeout"})

    async def _paired(self, device: Device, token: str) -> None:
        """Hand the new login to the device and bring it online."""
        self.net.save()
        await self.link.send({"type": "paired", "phone": device.phone, "token": token, "deviceId": device.id})
        await self.net.go_online(device, self.link)

    async def _on_request(self, data: str) -> None:
        """Answer one client request (errors become ``error`` answers)."""
        request = _parse(data)
        try:
            handler = self._handlers.get(str(request.get("type")))
            if handler is None:
                raise SimError("BAD_REQUEST", "a request is a JSON object with a known type")
            reply = await handler(request)
        except SimError as exc:
            reply = {"type": "error", "code": exc.code, "message": exc.message, "permanent": exc.permanent}
        if reply is not None:
            await self.link.send({**reply, "reqId": request.get("reqId")})

    def _online_device(self) -> Device:
        """The device, if it is paired and online on this connection."""
        device = self.device
        if device is None or device.link is not self.link:
            raise SimError("NOT_CONNECTED", "the device is not connected")
        return device

    async def _send(self, request: dict[str, Any]) -> Reply:
        message_id = request.get("messageId")
        message_id = message_id if isinstance(message_id, str) else None
        wa_id = await self.net.send(self._online_device(), request.get("to"), request.get("text"), message_id)
        return {"type": "ack", "waId": wa_id}

    async def _exists(self, request: dict[str, Any]) -> Reply:
        asker = str(self._online_device().phone)
        phone = check_phone(request.get("phone"), "phone")
        self.net.state.record(self.net.state.lookups, asker, {"phone": phone})
        return {"type": "exists", "phone": phone, "exists": phone not in self.net.state.unregistered}

    async def _presence(self, request: dict[str, Any]) -> Reply:
        device = self._online_device()
        to, state = check_phone(request.get("to"), "to"), request.get("state")
        if state not in PRESENCE_STATES:
            raise SimError("BAD_REQUEST", f"state must be one of {PRESENCE_STATES}")
        self.net.state.record(
            self.net.state.presences, str(device.phone), {"from": device.phone, "to": to, "state": state}
        )
        return None

    async def _pair_phone(self, request: dict[str, Any]) -> Reply:
        if self.device is None or self.device.phone is not None:
            raise SimError("NOT_IN_QR_PHASE", "the device is already paired")
        return {"type": "pair_code", "code": self.net.state.issue_code(self.device, str(request.get("phone")))}

    async def _logout(self, request: dict[str, Any]) -> Reply:
        await self.net.remove(self._online_device(), "user_logout")
        return None

    async def _end(self) -> None:
        """The connection is over: stop the QR phase (or let it finish closing) and go offline."""
        if self._qr_task is not None:
            if not self._qr_closing:
                self._qr_task.cancel()
            await asyncio.gather(self._qr_task, return_exceptions=True)
        if self.device is not None:
            self.net.go_offline(self.device, self.link)


def _parse(data: str) -> dict[str, Any]:
    """A frame's JSON object; anything else counts as an empty request."""
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


async def _read_hello(ws: web.WebSocketResponse) -> dict[str, Any]:
    """The client's first message, which must be a well-formed ``hello``."""
    try:
        frame = await ws.receive(timeout=HELLO_TIMEOUT)
    except TimeoutError as exc:
        raise SimError("BAD_HELLO", "no hello came") from exc
    hello = _parse(frame.data) if frame.type == WSMsgType.TEXT else {}
    if hello.get("type") != "hello":
        raise SimError("BAD_HELLO", "the first message must be a hello")
    for key in ("noise", "identity", "adv"):
        value = hello.get(key)
        if not isinstance(value, str) or not value or "," in value:
            raise SimError("BAD_HELLO", f"hello.{key} must be a base64 key")
    return hello
