"""One active core per Redis: the lease, its fencing epoch, and take-over of a dead holder."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import pytest
from support import eventually

from waorch.config import Settings
from waorch.core import keys
from waorch.core.core import Core
from waorch.core.lease import CoreLease, current_holder
from waorch.errors import CoreActive, Fenced
from waorch.sim.server import SimServer

HOLD_AND_WAIT = """
import asyncio, sys
import redis.asyncio as aioredis
from waorch.core.lease import CoreLease

async def main():
    redis = aioredis.Redis.from_url(sys.argv[1], decode_responses=True)
    print(await CoreLease(redis, "http://127.0.0.1:1", ttl_ms=600000).acquire(), flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_second_lease_is_refused_until_the_first_is_released(redis: Any) -> None:
    first, second = CoreLease(redis, "http://127.0.0.1:1001"), CoreLease(redis, "http://127.0.0.1:1002")
    assert await first.acquire() == 1
    with pytest.raises(CoreActive, match="http://127.0.0.1:1001"):
        await second.acquire()
    holder = await current_holder(redis)
    assert holder is not None and holder.owner == first.owner and holder.url == "http://127.0.0.1:1001"
    await first.release()
    assert await second.acquire() == 2
    await first.release()  # no longer ours: nothing happens
    assert (await current_holder(redis)).owner == second.owner


async def test_lease_expires_without_renewal_and_a_holder_steps_down_when_taken(redis: Any) -> None:
    first = CoreLease(redis, "http://127.0.0.1:1001", ttl_ms=1200)
    await first.acquire()
    keeper = asyncio.create_task(first.keep())
    await asyncio.sleep(1.5)
    assert await current_holder(redis) is not None  # renewed past its TTL
    await redis.delete(keys.CORE_LEASE)  # e.g. expired during a long pause
    second = CoreLease(redis, "http://127.0.0.1:1002", ttl_ms=1200)
    await second.acquire()
    await asyncio.wait_for(first.lost.wait(), 2)  # the next renewal sees another owner
    keeper.cancel()
    assert (await current_holder(redis)).owner == second.owner


async def test_lease_of_a_killed_process_is_taken_over_at_once(redis: Any, redis_server: Any) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLD_AND_WAIT, redis_server.url, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert (await holder.stdout.readline()).strip() == b"1"
        with pytest.raises(CoreActive):
            await CoreLease(redis, "http://127.0.0.1:1002").acquire()  # alive: refused
    finally:
        holder.kill()
        await holder.wait()
    assert await CoreLease(redis, "http://127.0.0.1:1002").acquire() == 2  # its TTL is 10 min: no wait


async def test_deposed_core_is_fenced_and_stops_starting_workers(
    make_settings: Callable[..., Settings], sim: SimServer, redis: Any
) -> None:
    settings = make_settings(SIM_URL=sim.url)
    first, second = Core(settings, redis), Core(settings, redis)
    await first.start()
    try:
        with pytest.raises(CoreActive):
            await second.start()
        await redis.delete(keys.CORE_LEASE)  # the first core's lease lapsed while it was stalled
        await second.start()
        with pytest.raises(Fenced):  # its epoch is stale: a fenced write is refused
            await first.starts._pop_due()
        assert first.lease.lost.is_set()
        session = await second.provision()  # only the new core starts it
        await eventually(lambda: _has_worker(second, session.id), timeout=10)
        assert first._stopping.is_set()
    finally:
        await first.stop()
        await second.stop(stop_workers=True)


async def _has_worker(core: Core, session_id: str) -> bool:
    return bool((await core.store.get(session_id)).worker)


async def test_deposed_core_cannot_start_a_send(
    make_settings: Callable[..., Settings], sim: SimServer, redis: Any
) -> None:
    settings = make_settings(SIM_URL=sim.url)
    first, second = Core(settings, redis), Core(settings, redis)
    await first.start()
    try:
        await redis.rpush("waorch:queue:worker_1", "msg_1")
        await redis.delete(keys.CORE_LEASE)
        await second.start()
        with pytest.raises(Fenced):
            await first.messages.start("worker_1", "msg_1", 0.0)
        assert await redis.lrange("waorch:queue:worker_1", 0, -1) == ["msg_1"]  # not taken into flight
        assert await second.messages.start("worker_1", "msg_1", 0.0) == 1
        assert await redis.lrange("waorch:inflight:worker_1", 0, -1) == ["msg_1"]
    finally:
        await first.stop()
        await second.stop()
