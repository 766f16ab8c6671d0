"""The watchdog: a worker's silence is measured in real seconds, whatever the pace of the core's clock;
restarts back off, doubling; a crash loop is parked as failed, keeping why and what to check.

Workers are real processes that ping every ``PING_INTERVAL_MS`` of real time. A core rehearsing on
a clock 20 times faster than real time keeps a worker that pings, and restarts one that falls
silent after ``PING_TIMEOUT_MS`` real milliseconds.
"""

from __future__ import annotations

import os
import signal

from support import RunningService, eventually, post_event
from test_sending import connected_session

from waorch.clock import ScaledClock
from waorch.core.watchdog import CRASH_LIMIT
from waorch.worker.connect_failures import KINDS

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


async def test_a_crash_loop_keeps_the_last_failure_and_what_to_check(start_service) -> None:
    running: RunningService = await start_service(WATCHDOG_INTERVAL_MS="600000")
    await running.core.pool.provision({"status": "starting", "created": "0", "generation": "0"}, None, None)
    await post_event(
        running,
        "worker_1",
        "DISCONNECTED",
        {
            "reason": "dns",
            "loggedOut": False,
            "hint": KINDS["dns"].check,
            "detail": "WhatsApp's address could not be looked up (DNS): x",
        },
    )
    for _ in range(CRASH_LIMIT + 1):
        await running.core.starts.discard("worker_1")
        await running.core.watchdog.restart(await running.core.store.get("worker_1"), "worker exited")
    session = await running.core.store.get("worker_1")
    assert session.status == "failed" and session.reason.startswith(f"crash loop: {CRASH_LIMIT + 1} restarts in 10 min")
    assert session.reason.endswith("(worker exited); last: dns: WhatsApp's address could not be looked up (DNS): x")
    assert session.hint == KINDS["dns"].check


async def test_restarts_back_off_doubling_and_the_last_waits_in_the_start_queue(start_service) -> None:
    running: RunningService = await start_service(WATCHDOG_INTERVAL_MS="600000")
    await running.core.pool.provision({"status": "starting", "created": "0", "generation": "0"}, None, None)
    for _ in range(CRASH_LIMIT):
        await running.core.starts.discard("worker_1")
        await running.core.watchdog.restart(await running.core.store.get("worker_1"), "worker exited")
    history = await running.core.store.history("worker_1")
    assert [entry["delay"] for entry in reversed(history) if entry["kind"] == "restart"] == [1, 2, 4, 8, 16]
    session = await running.core.store.get("worker_1")
    assert (session.status, session.restarts) == ("starting", CRASH_LIMIT)
    due = await running.core.starts.due_at("worker_1")
    assert due is not None and due >= running.core.clock.now() + 15
