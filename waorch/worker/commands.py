"""The worker's command endpoint: the orchestrator's authenticated channel into a worker.

A small aiohttp server (loopback for processes; the container's address for containers) that
accepts ``POST /command`` signed with the worker's command key (Standard Webhooks headers, replay
guarded) and signs each answer with its reply key, bound to the command's id. Commands: ``ping``,
``stop``, ``logout``, ``typing``, ``send``, ``status``, ``pairing_code``, ``check`` (whether a number is on
WhatsApp). Sends go through the worker's journal, so a message id is never sent twice; a check sends nothing
and may be asked again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from waorch.errors import SignatureError
from waorch.signing import MemoryReplayGuard, sign_reply, verify_once
from waorch.worker.engine import Engine, EngineError, EventSink, SendResult
from waorch.worker.journal import SendJournal

log = logging.getLogger("waorch.worker.commands")
Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class CommandServer:
    """Serves signed commands for one worker's engine."""

    def __init__(
        self, engine: Engine, sink: EventSink, key: str, on_stop: Callable[[], object], journal: SendJournal
    ) -> None:
        self.engine = engine
        self.journal = journal
        self.sink = sink
        self.key = key
        self.on_stop = on_stop
        self._guard = MemoryReplayGuard()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._handlers: dict[str, Handler] = {
            "ping": self._ping,
            "stop": self._stop,
            "logout": self._logout,
            "typing": self._typing,
            "send": self._send,
            "status": self._status,
            "pairing_code": self._pairing_code,
            "check": self._check,
        }

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` (0 = any free port; read ``.port`` afterwards)."""
        app = web.Application()
        app.router.add_post("/command", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = self._runner.addresses[0][1]  # (host, port) of the site just started

    async def close(self) -> None:
        """Stop listening."""
        if self._runner:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            request_id = await verify_once(self.key, request.headers, body, self._guard)
        except SignatureError as error:  # not from the core: answered, but not signed
            return web.json_response({"error": error.code, "message": error.message}, status=401)
        status, answer = await self._answer(body)
        signed = json.dumps(answer).encode()
        return web.Response(
            body=signed,
            status=status,
            content_type="application/json",
            headers=sign_reply(self.key, request_id, signed),
        )

    async def _answer(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON answer to one verified command."""
        try:
            command = json.loads(body)
            handler = self._handlers[command["command"]]
        except (ValueError, KeyError, TypeError):
            return 400, {"error": "BAD_COMMAND", "message": "unknown or malformed command"}
        try:
            return 200, await handler(command)
        except EngineError as error:
            return 409, {"error": error.code, "message": str(error)}
        except (KeyError, TypeError, ValueError) as error:
            return 400, {"error": "BAD_COMMAND", "message": f"bad arguments: {error}"}

    async def _ping(self, command: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    async def _stop(self, command: dict[str, Any]) -> dict[str, Any]:
        asyncio.get_running_loop().call_soon(self.on_stop)
        return {"ok": True}

    async def _logout(self, command: dict[str, Any]) -> dict[str, Any]:
        await self.engine.logout()
        return {"ok": True}

    async def _typing(self, command: dict[str, Any]) -> dict[str, Any]:
        await self.engine.typing(str(command["to"]), float(command.get("seconds", 2.0)))
        return {"ok": True}

    async def _pairing_code(self, command: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "code": await self.engine.pairing_code(str(command["phone"]))}

    async def _check(self, command: dict[str, Any]) -> dict[str, Any]:
        try:
            return {"ok": True, "state": "checked", "onWhatsApp": await self.engine.is_on_whatsapp(str(command["to"]))}
        except EngineError as error:  # nothing was learnt: asked again later
            return {"ok": True, "state": "not_sent", "error": error.code, "permanent": False}

    async def _status(self, command: dict[str, Any]) -> dict[str, Any]:
        entry = self.journal.lookup(str(command["messageId"]))
        return {"ok": True, "state": "none"} if entry is None else {"ok": True, **_answer(entry)}

    async def _send(self, command: dict[str, Any]) -> dict[str, Any]:
        to, text, message_id = str(command["to"]), str(command["text"]), str(command["messageId"])
        known = self.journal.lookup(message_id)
        if known is not None and known["state"] != "not_sent":
            return {"ok": True, "duplicate": True, **_answer(known)}
        self.journal.record(message_id, "attempt", to=to)
        try:
            typing = float(command.get("typingSeconds", 0))
            if typing > 0:
                await self.engine.typing(to, typing)
            result = await self.engine.send_text(to, text, message_id)
        except EngineError as error:
            return await self._engine_error(message_id, to, error)
        return await self._settle(message_id, to, result)

    async def _engine_error(self, message_id: str, to: str, error: EngineError) -> dict[str, Any]:
        if error.code == "NOT_CONNECTED":  # refused before anything went out: safe to try again
            self.journal.record(message_id, "not_sent", error=error.code)
            return {"ok": True, "state": "not_sent", "error": error.code, "permanent": False}
        return {"ok": True, "state": "attempt", "error": error.code, "permanent": False}

    async def _settle(self, message_id: str, to: str, result: SendResult) -> dict[str, Any]:
        if result.ok:
            self.journal.record(message_id, "sent", waId=result.wa_id)
            await self.sink.emit("MESSAGE_SENT", {"messageId": message_id, "to": to, "waId": result.wa_id})
        else:
            state = "failed" if result.permanent else "not_sent"
            self.journal.record(message_id, state, error=result.error, permanent=result.permanent)
            await self.sink.emit(
                "MESSAGE_FAILED",
                {"messageId": message_id, "to": to, "error": result.error, "permanent": result.permanent},
            )
        return {"ok": True, **_answer(self.journal.lookup(message_id) or {})}


def _answer(entry: dict[str, Any]) -> dict[str, Any]:
    """A journal entry as the orchestrator reads it."""
    return {
        "state": entry.get("state", "none"),
        "waId": entry.get("waId"),
        "error": entry.get("error"),
        "permanent": bool(entry.get("permanent")),
    }
