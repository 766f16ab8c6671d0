"""SOCKS5 servers on loopback that tell a test what a client asked them (none connects off this machine).

Both are the built-in server (:mod:`waorch.sim.socks`) with its hooks changed: ``RecordingSocks``
answers the greeting (no auth, or user/password, any of which it records), records the CONNECT
request (address type, host, port) and refuses it ("connection not allowed by ruleset").
``SilentSocks`` accepts TCP connections and never answers; ``HangingUpSocks`` reads the greeting
and closes the connection; ``RelayingSocks`` connects every request to one port on this machine
(a stand-in for WhatsApp that is not WhatsApp).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

from waorch.sim.socks import ATYP_DOMAIN, NO_AUTH, REPLY_NOT_ALLOWED, USER_PASSWORD, SocksRequest, SocksServer

__all__ = ["ATYP_DOMAIN", "HangingUpSocks", "RecordingSocks", "RelayingSocks", "SilentSocks", "SocksRequest"]


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


class HangingUpSocks(SocksServer):
    """Reads a client's greeting and hangs up without a word."""

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read the greeting, then close."""
        await reader.read(16)
        writer.close()


class RelayingSocks(SocksServer):
    """Connects every request, whatever destination it names, to ``target_port`` on 127.0.0.1."""

    def __init__(self, target_port: int) -> None:
        super().__init__()
        self.target_port = target_port

    async def connect(self, request: SocksRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Relay to the target port instead."""
        await super().connect(replace(request, host="127.0.0.1", port=self.target_port), reader, writer)
