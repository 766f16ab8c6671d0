"""A real HTTP server on 127.0.0.1 that plays a part it has no right to: a core (to collect an
API key) or a worker (to collect messages and answer "sent"). It records every request and
answers what the test sets."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from support import free_port

Answer = Callable[["Request"], tuple[int, dict[str, Any], dict[str, str]]]


@dataclass(frozen=True)
class Request:
    """One request as the impostor got it."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The JSON body."""
        return json.loads(self.body)


def says_sent(request: Request) -> tuple[int, dict[str, Any], dict[str, str]]:
    """What a worker answers for a message it sent (without any signature)."""
    return 200, {"ok": True, "state": "sent", "waId": "3EB0IMPOSTOR", "error": None, "permanent": False}, {}


class Impostor:
    """Records every request; ``answer(request)`` gives the status, JSON body and extra headers."""

    def __init__(self, answer: Answer = says_sent, port: int | None = None) -> None:
        self.port = port or free_port()
        self.answer = answer
        self.received: list[Request] = []
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        received = Request(request.path, {k.lower(): v for k, v in request.headers.items()}, await request.read())
        self.received.append(received)
        status, body, headers = self.answer(received)
        return web.json_response(body, status=status, headers=headers)

    async def start(self) -> Impostor:
        """Listen on 127.0.0.1 at ``port``."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        except OSError:  # the port is taken
            await self.stop()
            raise
        return self

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
