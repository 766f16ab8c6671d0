"""The core on its own loop in a thread (how the control room hosts it)."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable

import httpx
import pytest
from support import API_KEY

from waorch.config import Settings
from waorch.core import keys
from waorch.core.lease import CoreLease
from waorch.core_thread import CORE_SWITCH_INTERVAL_S, CoreThread
from waorch.errors import CoreActive, SessionNotFound, Unavailable
from waorch.service import running_service
from waorch.sim.server import SimServer


async def test_core_thread_acts_on_its_own_loop_and_a_busy_caller_does_not_delay_it(
    make_settings: Callable[..., Settings], sim: SimServer, redis_server
) -> None:
    settings = make_settings(SIM_URL=sim.url)
    own_interval = sys.getswitchinterval()
    async with CoreThread(settings, redis_server.url, stop_workers=True) as thread:
        control = thread.control()
        session_id = await control.provision(None, None)
        assert (await thread.run(thread.service.core.store.get(session_id))).id == session_id
        with pytest.raises(SessionNotFound):  # errors come back to the caller's loop as they are
            await control.restart("worker_99")
        assert sys.getswitchinterval() == CORE_SWITCH_INTERVAL_S  # the core waits at most 1 ms for the GIL
        latencies = _probe_while_busy(f"{settings.base_url}/health", busy_s=1.5)
    # The caller's loop was frozen for 1.5 s; the core answered all along (sharing only the GIL):
    # on the caller's loop, the first request alone would have waited the whole 1.5 s.
    assert len(latencies) >= 5 and max(latencies) < 0.5, latencies
    assert sys.getswitchinterval() == own_interval > CORE_SWITCH_INTERVAL_S  # the process's own again


async def test_core_thread_refuses_to_start_while_another_core_is_active(
    make_settings: Callable[..., Settings], sim: SimServer, redis_server
) -> None:
    async with running_service(make_settings(SIM_URL=sim.url)) as service:
        with pytest.raises(CoreActive, match=service.base_url):
            async with CoreThread(make_settings(SIM_URL=sim.url), redis_server.url):
                pass
        assert threading.active_count() < 10 and "waorch-core" not in {t.name for t in threading.enumerate()}


def _probe_while_busy(url: str, busy_s: float) -> list[float]:
    """Latencies of GETs from another thread while this (the caller's event loop) thread spins."""
    latencies: list[float] = []

    def probe() -> None:
        with httpx.Client(headers={"X-API-Key": API_KEY}, trust_env=False) as client:
            deadline = time.monotonic() + busy_s
            while time.monotonic() < deadline:
                started = time.perf_counter()
                client.get(url).raise_for_status()
                latencies.append(time.perf_counter() - started)
                time.sleep(0.02)

    prober = threading.Thread(target=probe)
    prober.start()
    end = time.monotonic() + busy_s  # a frame that takes a second: the loop does nothing else
    while time.monotonic() < end:
        pass
    prober.join()
    return latencies


async def test_core_thread_says_when_its_core_steps_down(
    make_settings: Callable[..., Settings], sim: SimServer, redis_server, redis
) -> None:
    async with CoreThread(make_settings(SIM_URL=sim.url, CORE_LEASE_MS="1200"), redis_server.url) as thread:
        await redis.delete(keys.CORE_LEASE)  # the lease lapsed; another core takes it
        other = CoreLease(redis, "http://127.0.0.1:1")
        await other.acquire()
        try:
            await asyncio.wait_for(thread.ended.wait(), 5)
            assert thread.lost.is_set() and thread.error is None and thread.service is None
            with pytest.raises(Unavailable):
                await thread.run(asyncio.sleep(0))
        finally:
            await other.release()
