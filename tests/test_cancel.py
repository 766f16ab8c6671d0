"""Stopping tasks for certain, even when a cancellation is lost on the way (Python 3.11's wait_for)."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio as aioredis

from waorch.cancel import cancel_and_wait


async def _poll(redis: aioredis.Redis, done: asyncio.Event) -> None:
    """A loop that reads Redis and waits a little until cancelled, like the core's (``done`` ends it
    for the cleanup)."""
    while not done.is_set():
        await redis.get("waorch:test:poll")
        await asyncio.sleep(0.005)


async def _stop_while_polling(
    redis: aioredis.Redis, stop: Callable[[asyncio.Task[None]], Awaitable[None]], rounds: int
) -> list[bool]:
    """Start a polling loop and ``stop`` it 1, 2 or 3 loop turns later (as a reply lands), ``rounds``
    times; which loops ended within 1.5 s."""
    ended = []
    for turns in (1, 2, 3) * rounds:
        done = asyncio.Event()
        task = asyncio.create_task(_poll(redis, done))
        for _ in range(turns):
            await asyncio.sleep(0)
        stopping = asyncio.ensure_future(stop(task))
        await asyncio.wait([stopping], timeout=1.5)
        ended.append(task.done())
        done.set()
        await asyncio.wait([task, stopping])
    return ended


async def _cancel_once(task: asyncio.Task[None]) -> None:
    """What stopping a task used to be: one cancel, then wait for it."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="Python 3.12 no longer loses a cancellation in wait_for")
async def test_a_single_cancel_can_be_lost_while_a_redis_reply_lands(redis: aioredis.Redis) -> None:
    """Why the helper exists: with one cancel, loops that read Redis can go on running."""
    assert not all(await _stop_while_polling(redis, _cancel_once, rounds=1))


async def test_cancel_and_wait_stops_every_loop_that_reads_redis(redis: aioredis.Redis) -> None:
    assert all(await _stop_while_polling(redis, cancel_and_wait, rounds=4))


async def test_a_failure_is_logged_not_raised_and_the_others_still_stop(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise ValueError("broken on the way")

    failed = asyncio.create_task(broken(), name="broken-task")
    sleeper = asyncio.create_task(asyncio.sleep(60))
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="waorch.cancel"):
        await cancel_and_wait(failed, sleeper)
    assert sleeper.cancelled()
    assert [record.getMessage() for record in caplog.records] == ["broken-task failed while being stopped"]
