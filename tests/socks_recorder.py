"""SOCKS5 servers on loopback that tell a test what a client asked them (none of them connects anywhere).

Both are the built-in server (:mod:`waorch.sim.socks`) with its hooks changed: ``RecordingSocks``
answers the greeting (no auth, or user/password, any of which it records), records the CONNECT
request (address type, host, port) and refuses it ("connection not allowed by ruleset").
``SilentSocks`` accepts TCP connections and never answers.
"""

from __future__ import annotations

import asyncio
import contextlib

from waorch.sim.socks import ATYP_DOMAIN, NO_AUTH, REPLY_NOT_ALLOWED, USER_PASSWORD, SocksRequest, SocksServer

__all__ = ["ATYP_DOMAIN", "RecordingSocks", "SilentSocks", "SocksRequest"]


class RecordingSocks(SocksServer):
    """Records each CONNECT request, then refuses it."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[SocksRequest] = []
        self._arrived = asyncio.Event()

    def method_for(self, offered: set[int]) -> int:
        """User/password whenever the client offers it (to record the credentials), else none."""
        return USER_PASSWORD if USER_PASSWORD in offered else NO_AUTH

    def accepts(self, username: str | None, password: str | None) -> bool:
        """Any credentials log in."""
        return True

    async def connect(self, request: SocksRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Record the request and refuse it."""
        self.requests.append(request)
        self._arrived.set()
        await self.refuse(writer, REPLY_NOT_ALLOWED)

    async def first_request(self, timeout: float = 10.0) -> SocksRequest:
        """The first CONNECT request (waiting for it up to ``timeout``)."""
        await asyncio.wait_for(self._arrived.wait(), timeout)
        return self.requests[0]


class SilentSocks(SocksServer):
    """Accepts TCP connections and never says a word."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Count the client and read until it goes away."""
        self.accepted += 1
        with contextlib.suppress(ConnectionError):
            await reader.read()
