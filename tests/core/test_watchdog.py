"""The watchdog: a worker's silence is measured in real seconds, whatever the pace of the core's clock.

Workers are real processes that ping every ``PING_INTERVAL_MS`` of real time. A core rehearsing on
a clock 20 times faster than real time keeps a worker that pings, and restarts one that falls
silent after ``PING_TIMEOUT_MS`` real milliseconds.
"""

from __future__ import annotations

import os
import signal

from support import RunningService, eventually
from test_sending import connected_session

from waorch.clock import ScaledClock

PING_TIMEOUT_S = 3.0  # pings come every 0.5 s (PING_INTERVAL_MS in the tests): 10 s of this clock


async def test_on_a_fast_clock_a_pinging_worker_is_kept_and_a_silent_one_restarted(start_service, sim_factory) -> None:
    clock = ScaledClock(20)
    sim = await sim_factory(clock=clock, qr_first_ttl=30, qr_ttl=10)
    timeout_ms = str(int(PING_TIMEOUT_S * 1000))
    running: RunningService = await start_service(clock=clock, SIM_URL=sim.url, PING_TIMEOUT_MS=timeout_ms)
    sid = await connected_session(running, sim.url)
    worker = (await running.core.store.get(sid)).worker
    since = clock.now()

    async def pinged_for_a_while() -> bool:  # a ping well over one timeout (of real time) later
        return (await running.core.store.get(sid)).last_ping > since + clock.clock_seconds(2 * PING_TIMEOUT_S)

    await eventually(pinged_for_a_while, timeout=20)
    kept = await running.core.store.get(sid)
    assert (kept.worker, kept.restarts, kept.status) == (worker, 0, "connected")

    pid = int(worker.split(":")[0])
    os.kill(pid, signal.SIGSTOP)  # alive, but silent
    try:
        async def restart_recorded() -> list[dict]:
            return [entry for entry in await running.core.store.history(sid) if entry["kind"] == "restart"]

        [restart] = await eventually(restart_recorded, timeout=20)
    finally:
        os.kill(pid, signal.SIGCONT)  # so that it can stop when it is told to
    silent_for = float(restart["problem"].removeprefix("no ping for ").removesuffix(" s"))
    assert PING_TIMEOUT_S <= silent_for < PING_TIMEOUT_S + 2, restart
