"""Proxy failover: a failing proxy is marked BAD, its sessions move, and it is re-checked later; a
pool running out of usable slots is alerted."""

from __future__ import annotations

import asyncio
import logging

from waorch.core.activity import ERROR, INFO, WARNING, ActivityLog
from waorch.core.alerts import AlertKind
from waorch.core.proxy_pool import ProxyInfo, ProxyPool
from waorch.core.sessions import Session, SessionStore, Status
from waorch.core.start_queue import StartQueue
from waorch.errors import WaorchError
from waorch.proxy_url import ProxyURL

log = logging.getLogger("waorch.failover")


async def socks_handshake(proxy: ProxyURL, timeout: float = 5.0) -> bool:
    """Whether the proxy answers a SOCKS5 greeting (and accepts its credentials).

    Only the handshake is done: no connection through the proxy is requested.
    """
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
            try:
                return await _greet(reader, writer, proxy)
            finally:
                writer.close()
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return False


async def _greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, proxy: ProxyURL) -> bool:
    method = b"\x02" if proxy.username is not None else b"\x00"
    writer.write(b"\x05\x01" + method)
    await writer.drain()
    if await reader.readexactly(2) != b"\x05" + method:
        return False
    if proxy.username is None:
        return True
    user, password = proxy.username.encode(), (proxy.password or "").encode()
    writer.write(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
    await writer.drain()
    return (await reader.readexactly(2))[1] == 0


def pool_pressure(proxies: list[ProxyInfo]) -> tuple[AlertKind, str] | None:
    """What is wrong with the pool, if anything: no usable proxy, or no more than a tenth (at least
    one) of the usable proxies' session slots free. A fleet without proxies has nothing wrong."""
    usable = [info for info in proxies if info.status == "ok"]
    if proxies and not usable:
        return AlertKind.POOL_EMPTY, (
            f"no usable proxy: all {len(proxies)} are BAD; sessions cannot be provisioned or moved off a failing proxy"
        )
    capacity = sum(info.max_sessions for info in usable)
    used = sum(min(len(info.sessions), info.max_sessions) for info in usable)
    if not usable or capacity - used > max(1, capacity // 10):
        return None
    return AlertKind.POOL_NEARLY_FULL, (
        f"proxy pool {'full' if used == capacity else 'nearly full'}: {used} of "
        f"{capacity} session slots used on {len(usable)} usable proxies "
        f"({len(proxies) - len(usable)} BAD); add proxies"
    )


class Failover:
    """Moves sessions off failing proxies and brings proxies back after their cool-down."""

    def __init__(self, store: SessionStore, pool: ProxyPool, starts: StartQueue, activity: ActivityLog) -> None:
        self.store = store
        self.pool = pool
        self.starts = starts
        self.activity = activity
        self.pressure: AlertKind | None = None  # the pool's trouble last alerted (again only once it changes)

    async def proxy_failed(self, session: Session, error: str, hint: str = "") -> None:
        """``PROXY_ERROR`` from ``session`` (``error``: what failed; ``hint``: what to check): mark its
        proxy BAD and move every session on it."""
        if not session.proxy:
            await self.store.record(session.id, "proxy_error", {"error": error, "proxy": None})
            return
        proxy = await self.pool.url_of(session.proxy)
        if proxy is not None:  # what the worker says goes to the log, the API and the control room
            error = proxy.scrub(error)
        await self.pool.mark_bad(session.proxy, error)
        info = await self.pool.get(session.proxy)
        log.warning("proxy %s marked BAD (%s); moving %d session(s)", info.endpoint, error, len(info.sessions))
        await self.activity.add(
            WARNING,
            "proxy",
            f"proxy {info.endpoint} marked BAD ({error}); moving {len(info.sessions)} session(s)",
            session.id,
            AlertKind.PROXY_FAILED,
            info.id,
        )
        for session_id in info.sessions:
            await self.move(session_id, f"proxy {info.endpoint} failed ({error})", hint)
        await self.check_capacity()

    async def move(self, session_id: str, failure: str, hint: str = "") -> None:
        """Move one session off a failed proxy (``failure`` says which and why) and queue its worker's
        restart; with no other proxy it fails, with ``hint`` (what to check about the proxy)."""
        try:
            new_proxy = await self.pool.move(session_id)
        except WaorchError as error:
            await self.store.set_status(session_id, Status.FAILED, f"{failure} and {error.message}", hint)
            return
        endpoint = (await self.pool.get(new_proxy)).endpoint
        await self.store.set_status(session_id, Status.STARTING, f"{failure}; moved to {endpoint}")
        await self.starts.enqueue(session_id)

    async def recheck(self) -> None:
        """Give BAD proxies whose cool-down has passed a handshake; healthy ones become OK again."""
        for info in await self.pool.list():
            if not info.recheck_due:
                continue
            proxy = await self.pool.url_of(info.id)
            if proxy and await socks_handshake(proxy):
                await self.pool.mark_ok(info.id)
                await self.activity.add(INFO, "proxy", f"proxy {info.endpoint} answers again: OK")
            else:
                await self.pool.mark_bad(info.id, "still failing after cool-down")
                await self.activity.add(
                    WARNING, "proxy", f"proxy {info.endpoint} still failing after its cool-down: BAD"
                )
        await self.check_capacity()

    async def check_capacity(self) -> None:
        """Alert when the pool runs out of usable slots (once, until that changes)."""
        pressure = pool_pressure(await self.pool.list())
        kind = pressure[0] if pressure else None
        if pressure and kind != self.pressure:
            level = ERROR if kind == AlertKind.POOL_EMPTY else WARNING
            await self.activity.add(level, "proxy", pressure[1], alert=pressure[0], subject="pool")
        self.pressure = kind
