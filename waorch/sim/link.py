"""One client's WebSocket as the simulator writes to it."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web


class Link:
    """A worker's WebSocket that several tasks (protocol, control API) may write to."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self._ws = ws
        self._lock = asyncio.Lock()

    async def send(self, message: dict[str, Any]) -> None:
        """Send one JSON message; a client that is already gone is ignored."""
        async with self._lock:
            if self._ws.closed:
                return
            try:
                await self._ws.send_json(message)
            except ConnectionError:
                return

    async def close(self, last: dict[str, Any] | None = None) -> None:
        """Close the connection, after sending ``last`` if given."""
        if last is not None:
            await self.send(last)
        await self._ws.close()
