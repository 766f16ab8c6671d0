"""SOCKS5 servers on loopback that tell a test what a client asked them (none of them connects anywhere).

``RecordingSocks`` answers the greeting (no auth, or user/password which it records), records the
CONNECT request (address type, host, port) and refuses it ("connection not allowed by ruleset").
``SilentSocks`` accepts TCP connections and never answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from dataclasses import dataclass

NO_AUTH, USER_PASSWORD = 0x00, 0x02
ATYP_IPV4, ATYP_DOMAIN, ATYP_IPV6 = 0x01, 0x03, 0x04
REPLY_NOT_ALLOWED = 0x02


@dataclass(frozen=True)
class SocksRequest:
    """One CONNECT request as the proxy received it."""

    address_type: int
    host: str
    port: int
    username: str | None
    password: str | None


async def _read_credentials(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[str, str]:
    """RFC 1929 sub-negotiation: record and accept any user and password."""
    _version, user_length = await reader.readexactly(2)
    user = (await reader.readexactly(user_length)).decode()
    password_length = (await reader.readexactly(1))[0]
    password = (await reader.readexactly(password_length)).decode()
    writer.write(b"\x01\x00")
    return user, password


async def _read_address(reader: asyncio.StreamReader, address_type: int) -> str:
    if address_type == ATYP_DOMAIN:
        length = (await reader.readexactly(1))[0]
        return (await reader.readexactly(length)).decode()
    size = 4 if address_type == ATYP_IPV4 else 16
    return str(ipaddress.ip_address(await reader.readexactly(size)))


class _Server:
    """A TCP server on 127.0.0.1 that keeps its client connections until closed."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        """Listen on a free loopback port (``.port``)."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self.serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Talk to one client."""
        raise NotImplementedError

    async def close(self) -> None:
        """Stop listening and drop every connection."""
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def url(self, scheme: str = "socks5h", auth: str = "") -> str:
        """``scheme://[auth@]127.0.0.1:port``."""
        return f"{scheme}://{auth + '@' if auth else ''}127.0.0.1:{self.port}"


class RecordingSocks(_Server):
    """Records each CONNECT request, then refuses it."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[SocksRequest] = []
        self._arrived = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _version, count = await reader.readexactly(2)
        method = USER_PASSWORD if USER_PASSWORD in await reader.readexactly(count) else NO_AUTH
        writer.write(bytes([5, method]))
        user, password = await _read_credentials(reader, writer) if method == USER_PASSWORD else (None, None)
        _version, _command, _reserved, address_type = await reader.readexactly(4)
        host = await _read_address(reader, address_type)
        port = int.from_bytes(await reader.readexactly(2), "big")
        self.requests.append(SocksRequest(address_type, host, port, user, password))
        self._arrived.set()
        writer.write(bytes([5, REPLY_NOT_ALLOWED, 0, ATYP_IPV4, 0, 0, 0, 0, 0, 0]))
        await writer.drain()
        writer.close()

    async def first_request(self, timeout: float = 10.0) -> SocksRequest:
        """The first CONNECT request (waiting for it up to ``timeout``)."""
        await asyncio.wait_for(self._arrived.wait(), timeout)
        return self.requests[0]


class SilentSocks(_Server):
    """Accepts TCP connections and never says a word."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        with contextlib.suppress(ConnectionError):
            await reader.read()
