"""The start queue: each session waits at most once, starts no sooner than it is due, in due order, one at a
time and ``PROVISIONING_INTERVAL_MS`` apart; a start that fails does not stop the ones after it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from support import RunningService, eventually, wait_status

from waorch.clock import SystemClock
from waorch.core.lease import CoreLease
from waorch.core.start_queue import StartQueue

Starts = list[tuple[str, float]]


@pytest.fixture
async def run_queue(
    redis: aioredis.Redis, lease: CoreLease
) -> AsyncIterator[Callable[..., Awaitable[tuple[StartQueue, Starts]]]]:
    """Factory: a start queue spaced ``interval_ms`` apart whose loop runs, recording each start and its
    time; a start of a session in ``failing`` raises."""
    stopping, tasks = asyncio.Event(), []

    async def make(interval_ms: int, failing: tuple[str, ...] = ()) -> tuple[StartQueue, Starts]:
        started: Starts = []

        async def start(session_id: str) -> None:
            started.append((session_id, time.time()))
            if session_id in failing:
                raise RuntimeError("the worker would not start")

        queue = StartQueue(redis, SystemClock(), interval_ms, start, lease)
        tasks.append(asyncio.create_task(queue.run_forever(stopping)))
        return queue, started

    yield make
    stopping.set()
    await asyncio.gather(*tasks)


async def test_a_session_waits_once_keeping_its_first_due_time_until_discarded(
    redis: aioredis.Redis, lease: CoreLease
) -> None:
    queue = StartQueue(redis, SystemClock(), 0, lambda session_id: asyncio.sleep(0), lease)
    before = time.time()
    await queue.enqueue("worker_1", delay=30)
    await queue.enqueue("worker_2", delay=10)
    await queue.enqueue("worker_1")  # already waiting: its restart backoff is not cut short
    due = await queue.due_at("worker_1")
    assert due is not None and before + 30 <= due <= time.time() + 30
    assert await queue.pending() == ["worker_2", "worker_1"]  # earliest first
    assert (await queue.schedule())["worker_1"] == due
    await queue.discard("worker_1")
    assert await queue.due_at("worker_1") is None and await queue.pending() == ["worker_2"]


async def test_due_starts_go_in_due_order_spaced_and_none_before_it_is_due(run_queue) -> None:
    queue, started = await run_queue(400)
    await queue.enqueue("worker_3", delay=1.2)
    await queue.enqueue("worker_2", delay=0.1)
    await queue.enqueue("worker_1")
    due = await queue.schedule()

    async def all_started() -> bool:
        return len(started) == 3

    await eventually(all_started, timeout=5)
    assert [session_id for session_id, _ in started] == ["worker_1", "worker_2", "worker_3"]
    assert started[1][1] - started[0][1] >= 0.39  # the interval, though worker_2 was due 0.1 s after worker_1
    assert started[2][1] >= due["worker_3"]  # not at the interval after worker_2: when it was due
    assert await queue.pending() == []


async def test_a_start_that_fails_does_not_stop_the_next(run_queue) -> None:
    queue, started = await run_queue(0, failing=("worker_1",))
    await queue.enqueue("worker_1")
    await queue.enqueue("worker_2", delay=0.05)

    async def both_started() -> bool:
        return [session_id for session_id, _ in started] == ["worker_1", "worker_2"]

    await eventually(both_started, timeout=5)
    assert await queue.pending() == []


async def test_worker_starts_are_spaced(start_service) -> None:
    running: RunningService = await start_service(PROVISIONING_INTERVAL_MS="700")
    sids = [(await running.api.post("/api/sessions/provision", json={})).json()["sessionId"] for _ in range(3)]
    for sid in sids:
        await wait_status(running.api, sid, "qr_ready")
    started = []
    for sid in sids:
        history = await running.core.store.history(sid)
        started.append(min(e["at"] for e in history if e.get("status") == "starting"))
    gaps = [b - a for a, b in zip(started, started[1:], strict=False)]
    assert all(gap >= 0.69 for gap in gaps), gaps
