"""The control room's host without any UI: it hosts the core, attaches to another's, takes over, and
says so (and says when Redis does not answer) through the events it tells its user."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import redis.asyncio as aioredis
from redis_servers import RedisServer
from support import eventually

from waorch.config import Settings
from waorch.control import LocalControl, RemoteControl
from waorch.host import (
    ActiveCoreGone,
    Attached,
    AttachedTo,
    CoreDown,
    CoreHost,
    CoreHosted,
    HostEvent,
    HostingHere,
    ModeChanged,
    NotRunning,
    RedisLost,
)
from waorch.sim.server import SimServer


@asynccontextmanager
async def hosting(settings: Settings) -> AsyncIterator[tuple[CoreHost, list[HostEvent]]]:
    """A started host and every event it told, in order; stopped on exit (its workers too)."""
    told: list[HostEvent] = []
    host = CoreHost(settings, told.append, stop_workers=True)
    host.start()
    try:
        yield host, told
    finally:
        await host.stop()


async def test_a_second_host_attaches_acts_through_the_first_and_takes_over_when_it_stops(
    make_settings: Callable[..., Settings], sim: SimServer
) -> None:
    first_settings = make_settings(SIM_URL=sim.url)
    async with hosting(first_settings) as (first, first_told):
        await eventually(lambda: _true(isinstance(first.mode.core, HostingHere)))
        assert first.mode.core == HostingHere(first_settings.base_url) and first.hosts_core
        assert isinstance(first.control, LocalControl) and any(isinstance(e, CoreHosted) for e in first_told)
        async with hosting(make_settings(SIM_URL=sim.url)) as (second, second_told):
            await eventually(lambda: _true(isinstance(second.mode.core, AttachedTo)))
            assert second.mode.core == AttachedTo(os.getpid(), socket.gethostname()) and not second.hosts_core
            assert isinstance(second.control, RemoteControl) and second.reader is not None
            session_id = await second.call(second.control.provision(None, None))  # acted on by the first's core
            assert first.reader is not None and await first.reader.store.ids() == [session_id]
            await first.stop()
            await eventually(lambda: _true(isinstance(second.mode.core, HostingHere)), timeout=15)
            assert second.hosts_core and await second.reader.store.ids() == [session_id]
            kinds = [type(event) for event in second_told if not isinstance(event, ModeChanged)]
            assert kinds == [Attached, ActiveCoreGone, CoreHosted]


async def test_redis_gone_and_back_shows_in_the_mode_and_the_hosted_core_carries_on(
    make_settings: Callable[..., Settings], sim: SimServer, own_redis: Callable[..., RedisServer]
) -> None:
    server = own_redis()
    async with hosting(make_settings(SIM_URL=sim.url, REDIS_URL=server.url, CORE_LEASE_MS="1500")) as (host, told):
        await eventually(lambda: _true(host.hosts_core))
        service, reader = host.service, host.reader
        assert service is not None and reader is not None
        server.kill()
        try:
            await host.call(reader.store.ids())
        except (aioredis.RedisError, OSError):
            host.redis_seen(False)  # what the host's user does when a read fails
        assert not host.mode.redis_available and host.mode.describe().endswith(" · REDIS UNAVAILABLE")
        assert told[-2:] == [ModeChanged(host.mode), RedisLost()]
        await eventually(lambda: _true(service.core.state.startswith("suspended")))
        server.start()
        await eventually(lambda: _true(service.core.state == "active"), timeout=20)
        assert await host.call(reader.store.ids()) == []
        host.redis_seen(True)
        assert host.mode.redis_available and host.service is service  # the same core rode the outage out


async def test_a_host_whose_redis_does_not_answer_is_not_running_and_says_why(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    async with hosting(make_settings(REDIS_URL=f"unix://{tmp_path}/nobody.sock")) as (host, told):
        event = await eventually(lambda: _first(told, CoreDown))
        assert not event.again
        assert host.mode.core == NotRunning(event.problem) and host.reader is None and host.control is None
        assert "REDIS_URL" in event.problem and "does not answer" in event.problem


async def _true(value: bool) -> bool:
    return value


async def _first(told: list[HostEvent], kind: type[CoreDown]) -> CoreDown | None:
    return next((event for event in told if isinstance(event, kind)), None)
