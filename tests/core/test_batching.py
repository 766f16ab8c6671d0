"""Group commit: concurrent commands share round trips and one ``WAITAOF``; one bad command or a
lost Redis fails only the callers it concerns, and never leaves a caller waiting."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError
from support import free_port

from waorch.core.batching import CommandBatcher


async def waitaof_calls(redis: aioredis.Redis) -> int:
    return int((await redis.info("commandstats")).get("cmdstat_waitaof", {}).get("calls", 0))


async def test_concurrent_writes_share_round_trips_and_are_fsynced(redis: aioredis.Redis, redis_kind: str) -> None:
    before = await waitaof_calls(redis)
    batcher = CommandBatcher(redis)
    results = await asyncio.gather(*(batcher.execute_durably("INCR", "n") for _ in range(200)))
    assert sorted(value for value, _ in results) == list(range(1, 201))
    # confirmed on disk where WAITAOF exists; on 7.0 (no WAITAOF) never claimed
    assert [fsynced for _, fsynced in results] == [redis_kind == "valkey"] * 200
    assert await waitaof_calls(redis) - before < 20


async def test_a_command_that_cannot_be_sent_fails_only_its_caller(redis: aioredis.Redis, redis_kind: str) -> None:
    batcher = CommandBatcher(redis)
    bad, good = await asyncio.gather(
        batcher.execute_durably("SET", "a", "\ud800"), batcher.execute_durably("SET", "b", "1"), return_exceptions=True
    )
    assert isinstance(bad, UnicodeEncodeError)
    assert good == ("OK", redis_kind == "valkey")
    assert await redis.get("b") == "1"
    assert await redis.exists("a") == 0


async def test_an_error_reply_is_returned_to_its_caller_only(redis: aioredis.Redis) -> None:
    await redis.set("text", "x")
    batcher = CommandBatcher(redis)
    wrong, right = await asyncio.gather(batcher.execute("INCR", "text"), batcher.execute("INCR", "counter"))
    assert isinstance(wrong, ResponseError)
    assert right == 1


async def test_commands_after_quiet_spells_still_go_out(redis: aioredis.Redis) -> None:
    batcher = CommandBatcher(redis)
    for n in range(1, 41):
        burst = await asyncio.wait_for(asyncio.gather(*(batcher.execute("INCR", "n") for _ in range(n % 3 + 1))), 5)
        assert len(burst) == n % 3 + 1
        await asyncio.sleep(0.001 * (n % 2))
    assert int(await redis.get("n")) == sum(n % 3 + 1 for n in range(1, 41))


async def test_unreachable_redis_fails_callers_instead_of_leaving_them_waiting() -> None:
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}", decode_responses=True)
    try:
        with pytest.raises(aioredis.ConnectionError):
            await asyncio.wait_for(CommandBatcher(client).execute_durably("SET", "k", "v"), 10)
    finally:
        await client.aclose()


async def test_a_stalled_redis_fails_the_batch_after_the_socket_timeout(redis: aioredis.Redis, redis_server) -> None:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True, socket_timeout=0.3)
    await client.ping()
    await redis.execute_command("CLIENT", "PAUSE", 5000, "WRITE")
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(aioredis.TimeoutError):
            await asyncio.wait_for(CommandBatcher(client, waitaof_timeout_ms=200).execute_durably("SET", "k", "v"), 5)
        assert asyncio.get_running_loop().time() - started < 2
    finally:
        await redis.execute_command("CLIENT", "UNPAUSE")
        await client.aclose()
