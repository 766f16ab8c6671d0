"""A small SOCKS5 proxy for the simulated network (RFC 1928 CONNECT; no auth or RFC 1929 user/password).

It listens on loopback only and connects only to this machine (the simulator lives there): a
``waorch demo`` needs no proxy software of its own. Any other destination is refused with
"connection not allowed by ruleset", so nothing leaves the machine through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from dataclasses import dataclass

VERSION = 0x05
NO_AUTH, USER_PASSWORD, NO_ACCEPTABLE = 0x00, 0x02, 0xFF
CONNECT = 0x01
ATYP_IPV4, ATYP_DOMAIN, ATYP_IPV6 = 0x01, 0x03, 0x04
REPLY_OK, REPLY_FAILURE, REPLY_NOT_ALLOWED, REPLY_REFUSED, REPLY_COMMAND = 0x00, 0x01, 0x02, 0x05, 0x07
CHUNK = 65536

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SocksRequest:
    """One client's request: its credentials (``None`` without auth), command and destination."""

    username: str | None
    password: str | None
    command: int
    address_type: int
    host: str
    port: int


def on_this_machine(host: str) -> bool:
    """Whether ``host`` (an IP literal or ``localhost``) is a loopback address; names are never resolved."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def reply(code: int) -> bytes:
    """A SOCKS5 reply with ``code`` and an all-zero IPv4 bound address."""
    return bytes([VERSION, code, 0, ATYP_IPV4]) + bytes(6)


async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy ``reader`` to ``writer`` until the end of the stream, then close ``writer``."""
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    writer.close()


class SocksServer:
    """A SOCKS5 server on a loopback port (``port``/``url`` set by ``start``); ``close`` drops every client.

    With ``username`` set, clients must log in with it and ``password``; without, no auth is asked.
    Subclasses may override ``method_for``, ``accepts`` and ``connect`` to observe or refuse.
    """

    def __init__(self, username: str | None = None, password: str | None = None, host: str = "127.0.0.1") -> None:
        if not on_this_machine(host):
            raise ValueError(f"the SOCKS5 server listens on loopback only, not {host}")
        self.username = username
        self.password = password
        self.host = host
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self, port: int = 0) -> None:
        """Listen on ``port`` (0: any free port)."""
        self._server = await asyncio.start_server(self._accept, self.host, port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening, drop every connection and wait until each is closed."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        await asyncio.gather(*self._clients, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def url(self, scheme: str = "socks5h", auth: str | None = None) -> str:
        """``scheme://[user:password@]host:port`` (the server's own credentials unless ``auth`` is given)."""
        if auth is None:
            auth = f"{self.username}:{self.password or ''}" if self.username is not None else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{auth + '@' if auth else ''}{host}:{self.port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = asyncio.current_task()
        assert client is not None
        self._clients.add(client)
        self._writers.add(writer)
        try:
            await self.serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as error:
            log.debug("SOCKS5 client dropped: %r", error)
        finally:
            await self._closed(writer)
            self._clients.discard(client)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Talk to one client: greeting, optional login, request, then ``connect``."""
        version, count = await reader.readexactly(2)
        method = self.method_for(set(await reader.readexactly(count))) if version == VERSION else NO_ACCEPTABLE
        writer.write(bytes([VERSION, method]))
        if method == NO_ACCEPTABLE:
            return await writer.drain()
        username, password = await self._login(reader, writer) if method == USER_PASSWORD else (None, None)
        if method == USER_PASSWORD and not self.accepts(username, password):
            return
        _version, command, _reserved, address_type = await reader.readexactly(4)
        host = await _read_host(reader, address_type)
        port = int.from_bytes(await reader.readexactly(2), "big")
        await self.connect(SocksRequest(username, password, command, address_type, host, port), reader, writer)

    def method_for(self, offered: set[int]) -> int:
        """The auth method to use among those the client ``offered``."""
        wanted = USER_PASSWORD if self.username is not None else NO_AUTH
        return wanted if wanted in offered else NO_ACCEPTABLE

    def accepts(self, username: str | None, password: str | None) -> bool:
        """Whether these credentials log in."""
        return username == self.username and password == (self.password or "")

    async def _login(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[str, str]:
        """RFC 1929: read user and password, answer success or failure."""
        _version, user_length = await reader.readexactly(2)
        username = (await reader.readexactly(user_length)).decode()
        password = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        writer.write(b"\x01" + (b"\x00" if self.accepts(username, password) else b"\x01"))
        await writer.drain()
        return username, password

    async def connect(self, request: SocksRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """CONNECT to a destination on this machine and relay both ways; refuse anything else."""
        if request.command != CONNECT:
            return await self.refuse(writer, REPLY_COMMAND)
        if not on_this_machine(request.host):
            return await self.refuse(writer, REPLY_NOT_ALLOWED)
        try:
            target_reader, target_writer = await asyncio.open_connection(request.host.strip("[]"), request.port)
        except OSError:
            return await self.refuse(writer, REPLY_REFUSED)
        self._writers.add(target_writer)
        try:
            writer.write(reply(REPLY_OK))
            await asyncio.gather(relay(reader, target_writer), relay(target_reader, writer))
        finally:
            await self._closed(target_writer)

    async def _closed(self, writer: asyncio.StreamWriter) -> None:
        """Close ``writer`` and wait until its socket is closed."""
        self._writers.discard(writer)
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    @staticmethod
    async def refuse(writer: asyncio.StreamWriter, code: int) -> None:
        """Answer the request with the failure ``code`` (the connection then closes)."""
        writer.write(reply(code))
        await writer.drain()


async def _read_host(reader: asyncio.StreamReader, address_type: int) -> str:
    """The destination as text: an IP literal or the domain name as sent."""
    if address_type == ATYP_DOMAIN:
        return (await reader.readexactly((await reader.readexactly(1))[0])).decode()
    if address_type not in (ATYP_IPV4, ATYP_IPV6):
        raise ValueError(f"unknown SOCKS5 address type {address_type}")
    return str(ipaddress.ip_address(await reader.readexactly(4 if address_type == ATYP_IPV4 else 16)))
