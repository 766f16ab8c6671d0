"""The embedded default: a private real server, persistent, adopted after a crash, stopped on exit."""

from __future__ import annotations

import stat
from pathlib import Path

import psutil
import pytest
import redis.asyncio as aioredis

from waorch.core.embedded_redis import EmbeddedRedis
from waorch.errors import WaorchError


async def test_private_persistent_and_stopped(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    await server.start()
    pid = int(server.pid_path.read_text())
    listening = [c for c in psutil.Process(pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert listening == []  # no TCP port: unreachable from outside the machine
    assert stat.S_IMODE(server.directory.stat().st_mode) == 0o700
    client = aioredis.Redis.from_url(server.url)
    await client.set("kept", "yes")
    assert (await client.config_get("appendonly"))["appendonly"] == "yes"
    assert (await client.config_get("maxmemory-policy"))["maxmemory-policy"] == "noeviction"
    await client.aclose()
    await server.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE

    again = EmbeddedRedis(tmp_path / "redis")
    await again.start()
    client = aioredis.Redis.from_url(again.url)
    assert await client.get("kept") == b"yes"
    await client.aclose()
    await again.stop()


async def test_orphan_server_is_adopted_not_doubled(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path / "redis")
    await first.start()
    pid = int(first.pid_path.read_text())
    # The orchestrator "crashed": the server keeps running; a new start adopts it.
    second = EmbeddedRedis(tmp_path / "redis")
    await second.start()
    assert int(second.pid_path.read_text()) == pid
    await second.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    await first.stop()


async def test_memory_is_limited_also_on_an_adopted_server(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path / "redis", 64)
    await first.start()
    client = aioredis.Redis.from_url(first.url, decode_responses=True)
    assert (await client.config_get("maxmemory"))["maxmemory"] == str(64 * 2**20)
    second = EmbeddedRedis(tmp_path / "redis", 128)  # started again with another REDIS_MAXMEMORY_MB
    await second.start()
    assert (await client.config_get("maxmemory"))["maxmemory"] == str(128 * 2**20)
    await client.aclose()
    await second.stop()
    # The first start's process handle learns of the exit too (an unsettled handle warns when collected, in
    # whichever later test that happens).
    await first.stop()


async def test_killed_server_keeps_acknowledged_writes(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    await server.start()
    client = aioredis.Redis.from_url(server.url)
    await client.set("durable", "1")
    await client.execute_command("WAITAOF", 1, 0, 1000)
    await client.aclose()
    server.kill()
    await server.stop()
    again = EmbeddedRedis(tmp_path / "redis")
    await again.start()
    client = aioredis.Redis.from_url(again.url)
    assert await client.get("durable") == b"1"
    await client.aclose()
    await again.stop()


async def test_a_socket_path_too_long_for_unix_is_a_clear_error(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 100)
    with pytest.raises(WaorchError, match="longer than 107 bytes.*shorter DATA_DIR"):
        await EmbeddedRedis(deep / "redis").start()
    assert not deep.exists()
