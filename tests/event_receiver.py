"""A real HTTP receiver for forwarded events, on 127.0.0.1: records every request, answers as told.

A test sets ``status`` (what to answer), ``failing`` (sessions whose events get a 500) and
``delay`` (how long to take), and can ``stop`` the server and ``start`` it again on the same port
to play a receiver that is down for a while.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from support import eventually, free_port

from waorch.signing import verify


@dataclass(frozen=True)
class Received:
    """One request as the receiver got it."""

    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        """The JSON body."""
        return json.loads(self.body)

    def verified(self, secret: str) -> bool:
        """Whether the Standard Webhooks signature verifies with ``secret`` (the id is the body's)."""
        return verify(secret, self.headers, self.body) == self.event["id"]


class EventReceiver:
    """Records posted events; ``status`` and ``delay`` decide the answer."""

    def __init__(self) -> None:
        self.port = free_port()
        self.status = 200
        self.delay = 0.0
        self.failing: set[str] = set()
        self.received: list[Received] = []
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Where to post events."""
        return f"http://127.0.0.1:{self.port}/events"

    async def _handle(self, request: web.Request) -> web.Response:
        received = Received({k.lower(): v for k, v in request.headers.items()}, await request.read())
        self.received.append(received)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._release.wait(), self.delay)
        status = 500 if received.event["sessionId"] in self.failing else self.status
        return web.json_response({"ok": status < 300}, status=status)

    async def start(self) -> None:
        """Listen (again) on the receiver's port."""
        app = web.Application()
        app.router.add_post("/events", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        """Stop listening; slow answers in progress are released first."""
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._release = asyncio.Event()

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Bodies received so far (of one ``type`` if given), retries included."""
        return [r.event for r in self.received if kind is None or r.event["type"] == kind]

    async def wait_for(self, count: int, kind: str | None = None, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until ``count`` bodies (of ``kind``) were received; return them."""
        return await eventually(lambda: _at_least(self.events(kind), count), timeout)


async def _at_least(items: list[dict[str, Any]], count: int) -> list[dict[str, Any]] | None:
    return items if len(items) >= count else None
