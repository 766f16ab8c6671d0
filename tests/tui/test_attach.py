"""Attach mode: a second control room on the same Redis shows and controls the active core's fleet."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from impostor import Impostor
from support import API_KEY, eventually
from tui_support import SIZE, Terminal, notices, text_of, until

from waorch.config import Settings, load_settings
from waorch.control import RemoteControl
from waorch.core import keys
from waorch.service import running_service
from waorch.sim.server import SimServer
from waorch.tui.app import ControlRoom
from waorch.tui.modals import Confirm


async def test_second_room_attaches_controls_and_takes_over(
    make_settings: Callable[..., Settings], sim: SimServer
) -> None:
    async with running_service(make_settings(SIM_URL=sim.url), stop_workers=True) as service:
        store = service.core.store
        app = ControlRoom(make_settings(SIM_URL=sim.url))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.control, RemoteControl))
            await until(pilot, lambda: f"attached to pid {os.getpid()}" in app.title)
            assert app.host.service is None
            await pilot.press("n")
            await pilot.pause()
            await pilot.press("enter")
            await eventually(lambda: store.ids(), timeout=10)  # provisioned by the service's core
            assert await store.ids() == ["worker_1"]
            await eventually(lambda: _status_is(store, "worker_1", "qr_ready"), timeout=15)
            await pilot.press("escape")
            await until(pilot, lambda: getattr(app.screen, "selected_id", None) == "worker_1")
            await pilot.press("p")
            await eventually(lambda: _paused(store, "worker_1"), timeout=5)
            await pilot.press("ctrl+d")
            await until(pilot, lambda: isinstance(app.screen, Confirm))
            await pilot.press("tab", "enter")  # Cancel is focused: move to Delete
            await eventually(lambda: _gone(store, "worker_1"), timeout=10)
    # the service stopped and released the lease: the room takes over (checked in the next test too)


async def test_room_takes_over_when_the_active_core_stops(
    make_settings: Callable[..., Settings], sim: SimServer
) -> None:
    """The service is active before the room starts (a room that finds no core hosts one itself), and stops
    while the room is attached to it."""
    async with contextlib.AsyncExitStack() as active:
        service = await active.enter_async_context(running_service(make_settings(SIM_URL=sim.url)))
        app = ControlRoom(make_settings(SIM_URL=sim.url), stop_workers=True)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.control, RemoteControl))
            session = await service.core.provision()
            await active.aclose()  # the active core stops; the room stays
            await until(pilot, lambda: app.host.service is not None, timeout=10)
            await until(pilot, lambda: f"core here · API 127.0.0.1:{app.settings.orch_port}" in app.title)
            assert await app.reader.store.ids() == [session.id]


async def test_waorch_in_a_terminal_and_a_second_room_on_its_embedded_redis(
    terminal: Terminal, tmp_path: Any, sim: SimServer
) -> None:
    await terminal.wait_for("0 sessions")
    env = {
        "DATA_DIR": str(terminal.data_dir),
        "API_KEY": API_KEY,
        "WEBHOOK_SECRET": "tui-test-secret-0123456789",
        "WORKER_ENGINE": "sim",
        "SIM_URL": sim.url,
        "ORCH_PORT": str(terminal.port),
        "PROVISIONING_INTERVAL_MS": "0",
    }
    app = ControlRoom(load_settings(env), stop_workers=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.control, RemoteControl), timeout=20)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press("enter")
        await terminal.wait_for("worker_1")  # the first room shows what the second one did
        terminal.keys("C-q")
        assert "exited 0" in await terminal.wait_for("exited", timeout=15)
        await until(pilot, lambda: app.host.service is not None, timeout=20)  # took over, on the same Redis
        assert await app.reader.store.ids() == ["worker_1"]


async def test_a_lease_naming_an_address_off_this_machine_gets_no_api_key(
    make_settings: Callable[..., Settings], redis: aioredis.Redis, impostor: Impostor
) -> None:
    """Whoever can write the lease in Redis names where the room sends its API_KEY: not in clear text
    off this machine (0.0.0.0 is no loopback address, yet reaches the impostor here)."""
    await redis.hset(
        keys.CORE_LEASE,
        mapping={
            "owner": "impostor",
            "epoch": 1,
            "url": f"http://0.0.0.0:{impostor.port}",
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": time.time(),
        },
    )
    await redis.pexpire(keys.CORE_LEASE, 60_000)
    app = ControlRoom(make_settings())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.control, RemoteControl))
        await until(pilot, lambda: any("does not send it the API_KEY" in text for text in notices(app)))
        await pilot.press("n")
        await pilot.pause()
        await pilot.press("enter")  # the provision form says why it cannot act, and keeps it open
        await until(pilot, lambda: "does not send it the API_KEY" in text_of(app, "#problem"))
    assert impostor.received == []


async def _status_is(store: Any, session_id: str, status: str) -> bool:
    return (await store.get(session_id)).status == status


async def _paused(store: Any, session_id: str) -> bool:
    return bool((await store.get(session_id)).paused)


async def _gone(store: Any, session_id: str) -> bool:
    return session_id not in await store.ids()


async def test_attaching_with_another_api_key_says_so_at_once(
    make_settings: Callable[..., Settings], sim: SimServer
) -> None:
    async with running_service(make_settings(SIM_URL=sim.url)):
        app = ControlRoom(make_settings(SIM_URL=sim.url, API_KEY="not-the-active-cores-key"))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: any("API_KEY of the active core" in text for text in notices(app)))
