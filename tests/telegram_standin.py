"""A local stand-in for the Telegram Bot API on 127.0.0.1: records every ``sendMessage`` and answers
as told (``answers``: the next answers, e.g. a 429 with ``retry_after`` or a 500; then 200). ``stop``
and ``start`` again on the same port play Telegram being unreachable for a while."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from support import free_port

TOKEN = "123456789:test-bot-token-AAbbCCdd_eeFF"
CHAT = "-100200300"


@dataclass(frozen=True)
class Call:
    """One ``sendMessage`` as received: when (monotonic), the path's token, the raw body."""

    at: float
    token: str
    body: bytes

    @property
    def text(self) -> str:
        """The message's text."""
        return str(json.loads(self.body)["text"])


class TelegramStandIn:
    """Records sendMessage calls; ``answers`` (status, payload) are given to the next calls in order."""

    def __init__(self) -> None:
        self.port = free_port()
        self.calls: list[Call] = []
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """``TELEGRAM_API_URL``."""
        return f"http://127.0.0.1:{self.port}"

    def settings(self) -> dict[str, str]:
        """The variables that send alerts here."""
        return {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": CHAT, "TELEGRAM_API_URL": self.url}

    async def _send(self, request: web.Request) -> web.Response:
        self.calls.append(Call(time.monotonic(), request.match_info["token"], await request.read()))
        if self.answers:
            status, payload = self.answers.pop(0)
            return web.json_response(payload, status=status)
        return web.json_response({"ok": True, "result": {"message_id": len(self.calls)}})

    async def start(self) -> None:
        """Listen (again) on the stand-in's port."""
        app = web.Application()
        app.router.add_post("/bot{token}/sendMessage", self._send)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        """Stop listening (calls then fail to connect)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> TelegramStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def texts(self) -> list[str]:
        """Every message's text, in order."""
        return [call.text for call in self.calls]

    def lines(self) -> list[str]:
        """Every line of every message."""
        return [line for text in self.texts() for line in text.splitlines()]
