"""The ``sim`` engine: a worker's WhatsApp connection, to ``waorch sim`` instead of WhatsApp.

It speaks the simulator's WebSocket protocol (:mod:`waorch.sim.protocol`) through the session's
SOCKS5 proxy, keeps its keys and login token in the auth dir, and reports what happens as the
same events the neonize engine reports.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp_socks import ProxyConnectionError, ProxyConnector, ProxyError, ProxyTimeoutError

from waorch.redis_url import redact_url
from waorch.worker.connect_failures import ConnectFailure, proxy_failure
from waorch.worker.engine import EngineConfig, EngineError, EventSink, SendResult

log = logging.getLogger(__name__)

AUTH_FILE = "sim-auth.json"
BACKOFF_FIRST = 0.2
BACKOFF_MAX = 5.0
CONNECT_TIMEOUT = 10.0
REQUEST_TIMEOUT = 10.0
HEARTBEAT = 20.0
BAN_MARGIN = 0.1
# SOCKS5 replies meaning "the proxy works, but the simulator did not answer it".
TARGET_UNREACHABLE = {3, 4, 5, 6}


class ProxyFailure(Exception):
    """The proxy itself cannot be reached, or refuses us (handshake or authentication)."""


@dataclass(frozen=True)
class Outcome:
    """How one connection ended: ``final`` ends ``run()``; else reconnect (at ``resume_at`` if set)."""

    final: str | None = None
    was_online: bool = False
    resume_at: float | None = None


class AuthStore:
    """The device's keys and login token: one file, readable by the owner only."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / AUTH_FILE

    def load(self) -> dict[str, Any]:
        """The stored auth data; new keys (and no login) the first time or if it is unreadable."""
        try:
            data = json.loads(self.path.read_text())
            if isinstance(data, dict) and all(isinstance(data.get(key), str) for key in ("noise", "identity", "adv")):
                return dict(data)
            log.warning("auth data in %s is incomplete; starting a new login", self.directory)
        except FileNotFoundError:
            pass
        except ValueError:
            log.warning("auth data in %s is unreadable; starting a new login", self.directory)
        data = {key: base64.b64encode(secrets.token_bytes(32)).decode() for key in ("noise", "identity", "adv")}
        self.save(data)
        return data

    def save(self, data: dict[str, Any]) -> None:
        """Write ``data`` atomically (directory 0700, file 0600)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        tmp = self.path.with_name(AUTH_FILE + ".tmp")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
            json.dump(data, file)
        os.replace(tmp, self.path)

    def delete(self) -> None:
        """Forget the login and keys (after a logout)."""
        self.path.unlink(missing_ok=True)


def proxy_connector(proxy_url: str | None) -> aiohttp.TCPConnector:
    """A connector through the SOCKS5 proxy (host names resolved by the proxy), or a direct one."""
    if not proxy_url:
        return aiohttp.TCPConnector()
    if proxy_url.startswith("socks5h://"):
        proxy_url = "socks5://" + proxy_url.removeprefix("socks5h://")
    return ProxyConnector.from_url(proxy_url, rdns=True)


async def _send(ws: aiohttp.ClientWebSocketResponse, message: dict[str, Any]) -> None:
    """Send one JSON message; a connection that is gone becomes ``EngineError``."""
    try:
        await ws.send_json(message)
    except ConnectionError as exc:
        raise EngineError("CONNECTION_LOST", "the connection closed while sending") from exc


def redact(url: str | None) -> str:
    """A proxy URL fit for logs: user name and password as ``***``."""
    return redact_url(url) if url else "no proxy"


class SimEngine:
    """One session's connection to the simulator (implements ``waorch.worker.engine.Engine``)."""

    def __init__(self, config: EngineConfig) -> None:
        if not config.sim_url:
            raise EngineError("CONFIG", "the sim engine needs the simulator's URL (sim_url)")
        self._config = config
        self._ws_url = config.sim_url.rstrip("/") + "/ws"
        self._auth = AuthStore(config.auth_dir)
        self._keys: dict[str, Any] = {}
        self._sink: EventSink | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._phone: str | None = None
        self._replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._attempt: asyncio.Task[Outcome] | None = None
        self._stopping = asyncio.Event()
        self._finished = asyncio.Event()
        self._down_reported = False  # the simulator's being unreachable is reported once until it answers

    async def run(self, sink: EventSink) -> str:
        """Stay connected (reconnecting with backoff) until stopped or a final condition."""
        self._sink = sink
        try:
            return await self._run()
        finally:
            self._finished.set()

    async def _run(self) -> str:
        delay = BACKOFF_FIRST
        while not self._stopping.is_set():
            try:
                outcome = await self._attempt_once()
            except ProxyFailure as exc:
                log.warning("session %s: proxy failure: %s", self._config.session_id, exc)
                await self._emit(*proxy_failure(str(exc)).event())
                return "proxy_error"
            if outcome.final is not None:
                return outcome.final
            delay = BACKOFF_FIRST if outcome.was_online else min(delay * 2, BACKOFF_MAX)
            await self._pause(outcome.resume_at - time.time() + BAN_MARGIN if outcome.resume_at else delay)
        return "stopped"

    async def _attempt_once(self) -> Outcome:
        """One connection, in a task that ``stop()`` can cancel while it is still connecting."""
        task = asyncio.create_task(self._connect())
        self._attempt = task
        try:
            await asyncio.wait([task])
        finally:
            task.cancel()
            self._attempt = None
        return Outcome(final="stopped") if task.cancelled() else task.result()

    async def _connect(self) -> Outcome:
        """Connect through the proxy and run the connection until it ends."""
        self._keys = self._auth.load()
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT, connect=CONNECT_TIMEOUT + 1)
        async with aiohttp.ClientSession(connector=proxy_connector(self._config.proxy_url), timeout=timeout) as http:
            try:
                ws = await http.ws_connect(
                    self._ws_url, heartbeat=HEARTBEAT, timeout=aiohttp.ClientWSTimeout(ws_close=2.0)
                )
            except (ProxyConnectionError, ProxyTimeoutError, ProxyError, asyncio.IncompleteReadError) as exc:
                return await self._unreachable(exc)  # python_socks lets the proxy's hanging up mid-handshake through
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                return await self._simulator_down(str(exc))
            async with ws:
                return await self._session(ws)

    async def _unreachable(self, exc: Exception) -> Outcome:
        """Tell a failing proxy (raised) from a working proxy whose target is down (retry)."""
        if isinstance(exc, ProxyError) and exc.error_code in TARGET_UNREACHABLE:
            return await self._simulator_down(f"through {redact(self._config.proxy_url)}: {exc}")
        raise ProxyFailure(f"{redact(self._config.proxy_url)}: {exc}") from exc

    async def _simulator_down(self, cause: str) -> Outcome:
        """The simulator does not answer: say so once (until it answers again), then keep trying."""
        log.info("session %s: simulator unreachable: %s", self._config.session_id, cause)
        if not self._down_reported:
            self._down_reported = True
            await self._emit(*ConnectFailure("simulator_down", f"{self._ws_url}: {cause}").event())
        return Outcome()

    async def _session(self, ws: aiohttp.ClientWebSocketResponse) -> Outcome:
        """Say hello, then handle the simulator's messages until one ends the connection."""
        self._ws = ws
        self._down_reported = False
        try:
            with contextlib.suppress(ConnectionError):
                await ws.send_json(self._hello())
            async for frame in ws:
                message = json.loads(frame.data) if frame.type == aiohttp.WSMsgType.TEXT else None
                outcome = await self._on_message(message) if isinstance(message, dict) else None
                if outcome is not None:
                    return outcome
            return await self._lost()
        finally:
            self._ws = None
            self._phone = None
            self._fail_replies()

    def _hello(self) -> dict[str, Any]:
        keys = self._keys
        return {
            "type": "hello",
            "noise": keys["noise"],
            "identity": keys["identity"],
            "adv": keys["adv"],
            "name": self._config.device_name,
            "token": keys.get("token"),
        }

    async def _lost(self) -> Outcome:
        """The connection closed without a reason: stopped, or lost (reconnect)."""
        if self._stopping.is_set():
            return Outcome(final="stopped")
        was_online = self._phone is not None
        if was_online:
            await self._disconnected("connection_lost", "the connection to WhatsApp was lost")
        return Outcome(was_online=was_online)

    async def _on_message(self, message: dict[str, Any]) -> Outcome | None:
        """React to one simulator message; an outcome ends the connection."""
        kind = message.get("type")
        req_id = message.get("reqId")
        if req_id in self._replies:
            self._replies.pop(req_id).set_result(message)
            return None
        if kind == "qr":
            await self._on_qr(message)
        elif kind == "paired":
            self._auth.save({**self._keys, "token": message["token"], "phone": message["phone"]})
        elif kind == "connected":
            self._phone = message["phone"]
            await self._emit("CONNECTED", {"phoneNumber": self._phone})
        elif kind == "message":
            await self._emit(
                "MESSAGE_RECEIVED", {key: message.get(key) for key in ("from", "chat", "text", "waId", "timestamp")}
            )
        elif kind == "error":
            log.warning("session %s: simulator error %s", self._config.session_id, message.get("code"))
        else:
            return await self._on_ending(kind, message)
        return None

    async def _on_qr(self, message: dict[str, Any]) -> None:
        keys = self._keys
        payload = ",".join((message["ref"], keys["noise"], keys["identity"], keys["adv"]))
        await self._emit("QR_CODE", {"qr": payload, "expiresAt": message["expiresAt"], "ttl": message["ttl"]})

    async def _on_ending(self, kind: Any, message: dict[str, Any]) -> Outcome | None:
        """Messages after which the simulator closes the connection."""
        if kind == "qr_timeout":
            await self._emit("AUTH_FAILURE", {"reason": "qr_timeout", "detail": "no QR code was scanned in time"})
            return Outcome(final="qr_timeout")
        if kind == "logged_out":
            self._auth.delete()
            await self._disconnected("logged_out", f"logged out ({message.get('reason')})", logged_out=True)
            return Outcome(final="logged_out")
        if kind == "banned":
            code, expires_at = message["code"], message["expiresAt"]
            await self._disconnected("temporary_ban", f"temporary ban (code {code})", code=code, expiresAt=expires_at)
            return Outcome(was_online=True, resume_at=expires_at)
        if kind == "replaced":
            await self._disconnected("stream_replaced", "another connection with this login replaced this one")
            return Outcome(final="stream_replaced")
        return None

    async def _disconnected(self, reason: str, detail: str, *, logged_out: bool = False, **extra: Any) -> None:
        await self._emit("DISCONNECTED", {"reason": reason, "loggedOut": logged_out, "detail": detail, **extra})

    async def _emit(self, kind: str, data: dict[str, Any]) -> None:
        if self._sink is not None:
            await self._sink.emit(kind, data)

    def _fail_replies(self) -> None:
        """Requests still waiting get an error: their connection is gone."""
        for future in self._replies.values():
            if not future.done():
                future.set_exception(EngineError("CONNECTION_LOST", "the connection closed before an answer came"))
        self._replies.clear()

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up at once on ``stop()``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), max(seconds, 0.0))

    def _online_ws(self) -> aiohttp.ClientWebSocketResponse:
        ws = self._ws
        if ws is None or self._phone is None:
            raise EngineError("NOT_CONNECTED", "not connected to WhatsApp")
        return ws

    async def _exchange(self, ws: aiohttp.ClientWebSocketResponse, request: dict[str, Any]) -> dict[str, Any]:
        """Send a request and wait for the answer with the same ``reqId``."""
        req_id = secrets.token_hex(8)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[req_id] = future
        try:
            await _send(ws, {**request, "reqId": req_id})
            return await asyncio.wait_for(future, REQUEST_TIMEOUT)
        except TimeoutError as exc:
            raise EngineError("TIMEOUT", "WhatsApp did not answer in time") from exc
        finally:
            self._replies.pop(req_id, None)

    async def send_text(self, to: str, text: str, message_id: str) -> SendResult:
        """Send a text; ``EngineError`` (not connected, timeout, connection lost) means no known outcome."""
        request = {"type": "send", "to": to, "text": text, "messageId": message_id}
        reply = await self._exchange(self._online_ws(), request)
        if reply.get("type") == "ack":
            return SendResult(ok=True, wa_id=reply["waId"])
        return SendResult(ok=False, error=reply.get("code"), permanent=bool(reply.get("permanent")))

    async def is_on_whatsapp(self, number: str) -> bool:
        """Ask the network whether ``number`` has an account (``EngineError`` if it could not be asked)."""
        reply = await self._exchange(self._online_ws(), {"type": "exists", "phone": number})
        if reply.get("type") != "exists":
            raise EngineError(str(reply.get("code")), str(reply.get("message")))
        return bool(reply.get("exists"))

    async def typing(self, to: str, seconds: float) -> None:
        """Show "typing..." to ``to`` for about ``seconds``."""
        await self._presence(to, "composing")
        await asyncio.sleep(seconds)
        with contextlib.suppress(EngineError):
            await self._presence(to, "paused")

    async def _presence(self, to: str, state: str) -> None:
        await _send(self._online_ws(), {"type": "presence", "to": to, "state": state})

    async def pairing_code(self, phone: str) -> str:
        """A pairing code for ``phone``; only while a QR code is being shown."""
        ws = self._ws
        if ws is None or self._phone is not None:
            raise EngineError("NOT_IN_QR_PHASE", "pairing codes are only given while waiting to be paired")
        reply = await self._exchange(ws, {"type": "pair_phone", "phone": phone})
        if reply.get("type") != "pair_code":
            raise EngineError(str(reply.get("code")), str(reply.get("message")))
        return str(reply["code"])

    async def logout(self) -> None:
        """Remove this device from the account; ``run()`` then deletes the auth data and returns."""
        await _send(self._online_ws(), {"type": "logout"})
        try:
            await asyncio.wait_for(self._finished.wait(), REQUEST_TIMEOUT)
        except TimeoutError as exc:
            raise EngineError("TIMEOUT", "WhatsApp did not confirm the logout") from exc

    async def stop(self) -> None:
        """Disconnect, keeping the login; ``run()`` returns "stopped"."""
        self._stopping.set()
        ws = self._ws
        if ws is not None:
            await ws.close()
        elif self._attempt is not None:
            self._attempt.cancel()
