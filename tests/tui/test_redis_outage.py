"""The control room when Redis goes away: it says so, keeps its core, and carries on when Redis is back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis_servers import RedisServer
from support import API_KEY, Serve, free_port
from tui_support import SIZE, new_session, screen_text, until

from waorch.config import load_settings
from waorch.control import RemoteControl
from waorch.core import keys
from waorch.core.lease import CoreLease, current_holder
from waorch.host import LeaseWatch
from waorch.sim.server import SimServer
from waorch.tui.app import ControlRoom

PASSWORD = "room-redis-pass-7Hq2LmZx"


async def test_the_room_says_redis_is_unavailable_and_its_core_carries_on(
    control_room: Callable[..., Any], own_redis: Callable[..., RedisServer]
) -> None:
    server = own_redis("--requirepass", PASSWORD)
    async with control_room(REDIS_URL=f"unix://:{PASSWORD}@{server.socket_path}", CORE_LEASE_MS="1500") as pilot:
        app: ControlRoom = pilot.app
        service = app.host.service
        session = await new_session(app)
        await until(pilot, lambda: session.id in screen_text(app))
        server.kill()
        await until(pilot, lambda: "REDIS UNAVAILABLE" in app.title and "Redis unavailable" in screen_text(app))
        await until(pilot, lambda: service.core.state.startswith("suspended"))
        assert app.host.service is service  # the room keeps hosting its core through the outage
        server.start()
        await until(pilot, lambda: "REDIS UNAVAILABLE" not in app.title and service.core.state == "active", timeout=20)
        assert app.host.service is service and await app.reader.store.ids() == [session.id]
        assert PASSWORD not in app.title + screen_text(app)


async def test_an_attached_room_leaves_the_lease_to_its_core_after_an_outage(
    tmp_path: Path, sim: SimServer, socks_proxy: Any, own_redis: Callable[..., RedisServer]
) -> None:
    server = own_redis()
    (tmp_path / "data").mkdir()
    serve = Serve(tmp_path / "data", sim.url, socks_proxy().url, server)
    serve.env["CORE_LEASE_MS"] = "1500"
    serve.start("--stop-workers")
    env = {
        "DATA_DIR": str(tmp_path / "room"),
        "REDIS_URL": server.url,
        "API_KEY": API_KEY,
        "WORKER_ENGINE": "sim",
        "WEBHOOK_SECRET": "serve-test-secret-0123456789",
        "SIM_URL": sim.url,
        "CORE_LEASE_MS": "1500",
    }
    app = ControlRoom(load_settings(env), stop_workers=True)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.control, RemoteControl))
            server.kill()
            await until(pilot, lambda: "REDIS UNAVAILABLE" in app.title)
            await asyncio.sleep(2.5)  # the lease expires while Redis is down
            server.start()
            await until(pilot, lambda: "REDIS UNAVAILABLE" not in app.title, timeout=20)
            await asyncio.sleep(3.0)  # longer than the room's grace would need, were it to take over
            assert app.host.service is None and isinstance(app.control, RemoteControl)
            holder = await current_holder(app.reader.redis)
            assert holder is not None and holder.pid == serve.process.pid  # the service's core has it again
    finally:
        serve.stop()


async def test_a_lease_gone_after_an_outage_is_left_to_a_live_holder_for_a_grace(redis: Any) -> None:
    lease = CoreLease(redis, "http://127.0.0.1:1001")
    await lease.acquire()
    holder = await current_holder(redis)
    watch, dead = LeaseWatch(holder, grace=0.5), LeaseWatch(replace(holder, pid=2**22 + 1), grace=60)
    assert await watch.still_held(redis) and await dead.still_held(redis)
    down = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}")  # how the watch sees Redis while it is down
    assert await watch.still_held(down) and await dead.still_held(down)
    await down.aclose()
    await redis.delete(keys.CORE_LEASE)  # expired while Redis was down; its holder (this process) lives
    assert await watch.still_held(redis) and not await dead.still_held(redis)  # a dead holder: take over at once
    await asyncio.sleep(0.6)
    assert not await watch.still_held(redis)  # it did not take the lease back in time: take over
    await lease.acquire()
    again = LeaseWatch(holder, grace=60)
    assert await again.still_held(redis)  # taken back: still the same core
    await lease.release()
    assert not await again.still_held(redis)  # given up without an outage (the core stopped): take over at once
