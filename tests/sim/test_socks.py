"""The built-in SOCKS5 server: real connections through it, logins checked, only this machine reachable."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from python_socks import ProxyError
from python_socks.async_.asyncio import Proxy

from waorch.core.failover import socks_handshake
from waorch.proxy_url import parse_proxy_url
from waorch.sim.socks import SocksServer


@pytest.fixture
async def echo() -> AsyncIterator[int]:
    """A TCP server on loopback that answers every line with it in upper case; its port."""

    answers: set[asyncio.Task[None]] = set()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answers.add(asyncio.current_task())  # type: ignore[arg-type]
        with contextlib.suppress(ConnectionError):
            while line := await reader.readline():
                writer.write(line.upper())
                await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await asyncio.gather(*answers)
    await server.wait_closed()


@pytest.fixture
async def socks() -> AsyncIterator[Callable[..., Awaitable[SocksServer]]]:
    """Factory: ``await socks(username=None, password=None)`` starts a server (closed afterwards)."""
    started: list[SocksServer] = []

    async def make(username: str | None = None, password: str | None = None) -> SocksServer:
        server = SocksServer(username, password)
        await server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        await server.close()


async def ask_through(
    proxy: SocksServer, port: int, line: bytes, host: str = "127.0.0.1", *, auth: str | None = None, rdns: bool = True
) -> bytes:
    """Connect to ``host:port`` through the proxy with python-socks (``rdns``: the proxy resolves), send a line."""
    sock = await Proxy.from_url(proxy.url("socks5", auth), rdns=rdns).connect(host, port, timeout=5)
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        writer.write(line)
        return await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()


async def test_relays_a_connection_without_auth(socks, echo: int) -> None:
    proxy = await socks()
    assert await ask_through(proxy, echo, b"hello\n") == b"HELLO\n"
    assert await ask_through(proxy, echo, b"by address\n", rdns=False) == b"BY ADDRESS\n"
    assert await ask_through(proxy, echo, b"by name\n", host="localhost") == b"BY NAME\n"


async def test_relays_with_the_right_login_and_refuses_a_wrong_one(socks, echo: int) -> None:
    proxy = await socks("alice", "s3cret:with@chars")
    assert await ask_through(proxy, echo, b"ok\n") == b"OK\n"
    with pytest.raises(ProxyError):
        await ask_through(proxy, echo, b"no\n", auth="alice:wrong")
    with pytest.raises(ProxyError):
        await ask_through(proxy, echo, b"no login\n", auth="")


async def test_the_proxy_pools_health_check_passes_only_with_the_right_login(socks) -> None:
    open_proxy, locked = await socks(), await socks("bob", "pw-123")
    assert await socks_handshake(parse_proxy_url(open_proxy.url()))
    assert await socks_handshake(parse_proxy_url(locked.url()))
    assert not await socks_handshake(parse_proxy_url(locked.url(auth="bob:nope")))


async def test_refuses_destinations_beyond_this_machine_and_closed_ports(socks, echo: int) -> None:
    proxy = await socks()
    with pytest.raises(ProxyError, match="not allowed"):
        await ask_through(proxy, 443, b"out\n", host="example.com")
    closed = await socks()
    port = closed.port
    await closed.close()
    with pytest.raises(ProxyError, match="refused"):
        await ask_through(proxy, port, b"nobody\n")


async def test_close_drops_open_relays(socks, echo: int) -> None:
    proxy = await socks()
    sock = await Proxy.from_url(proxy.url("socks5")).connect("127.0.0.1", echo, timeout=5)
    reader, writer = await asyncio.open_connection(sock=sock)
    await proxy.close()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


def test_listens_on_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        SocksServer(host="0.0.0.0")
