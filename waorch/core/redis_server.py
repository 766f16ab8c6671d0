"""The Redis server waorch runs on: the client, what the server guarantees, and what its errors mean.

A user may point ``REDIS_URL`` at any Redis or Valkey from 7.0 on (Debian's ``redis-server`` is 7.0,
which has no ``WAITAOF``), with a password, an ACL user, a database index or a unix socket. This
module turns that into a client, reads once which durability guarantee is in force (``WAITAOF``
and the append-only settings, read from the server), tells an outage (Redis down, restarting,
loading) from a fault of ours, and never lets a credential reach a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis import exceptions

from waorch.errors import RedisRefused, RedisUnavailable
from waorch.redis_url import redact_url

CLIENT_NAME = "waorch"  # every waorch process names its connections, so a shared server is not stopped under it
# Error replies that mean the server cannot take writes for now (not that our request was wrong).
OUTAGE_REPLIES = ("MISCONF", "READONLY", "LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN")
FULL_REPLY = "OOM"
OUTAGE_ERRORS = (exceptions.ConnectionError, exceptions.TimeoutError, OSError)


def redis_client(url: str, max_connections: int = 64) -> aioredis.Redis:
    """The core's Redis client: a bounded pool that waits for a free connection when all are busy
    (hundreds of session loops share it; the default pool fails at once instead)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=30, decode_responses=True, client_name=CLIENT_NAME
    )
    return aioredis.Redis(connection_pool=pool)


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` means Redis is unreachable or cannot take writes right now (not our fault)."""
    if isinstance(error, OUTAGE_ERRORS) and not isinstance(error, exceptions.AuthenticationError):
        return True
    return isinstance(error, exceptions.ResponseError) and str(error).startswith(OUTAGE_REPLIES)


def is_full(error: BaseException) -> bool:
    """Whether ``error`` is Redis refusing a write because it reached ``maxmemory`` (redis-py raises
    ``OutOfMemoryError`` without the ``OOM`` code in its text; other paths keep the reply as it is)."""
    if isinstance(error, exceptions.OutOfMemoryError):
        return True
    return isinstance(error, exceptions.ResponseError) and str(error).startswith(FULL_REPLY)


async def over_maxmemory(redis: aioredis.Redis) -> bool:
    """Whether the server's memory is beyond its ``maxmemory``, so it refuses writes that could grow it
    (counted as the server counts: without its replication and append-only buffers)."""
    memory = await redis.info("memory")
    limit = int(memory.get("maxmemory") or 0)
    return bool(limit) and int(memory["used_memory"]) - int(memory.get("mem_not_counted_for_evict") or 0) > limit


def problem_of(error: BaseException) -> str:
    """A short readable cause (``Connection refused``), without the library's noise."""
    text = str(error) or type(error).__name__
    if match := re.match(
        r"Error (\d+) connecting to ", text
    ):  # "Error 111 connecting to host:port. Connect call failed..."
        return os.strerror(int(match.group(1)))
    return text.strip().rstrip(".")


@dataclass(frozen=True)
class Durability:
    """What a 202 means on this server: whether an accepted message survives a power cut."""

    server: str  # "valkey 8.1.1", "redis 7.0.15"
    waitaof: bool  # the server has WAITAOF (7.2+) and append-only is on: each 202 waits for the fsync
    appendonly: str | None  # "yes" / "no"; None if the server does not say
    appendfsync: str | None  # "always" / "everysec" / "no"; None if the server does not say

    @property
    def power_cut_safe(self) -> bool:
        """True if every accepted message is on disk before its 202."""
        return self.appendonly == "yes" and (self.waitaof or self.appendfsync == "always")

    def describe(self) -> str:
        """One sentence: the guarantee in force, and what can be lost if any."""
        if self.appendonly == "yes" and self.waitaof:
            return f"{self.server}: every accepted message is fsynced to the append-only file before its 202 (WAITAOF)"
        if self.appendonly == "yes" and self.appendfsync == "always":
            return f"{self.server}: append-only file fsynced on every write (appendfsync always)"
        if self.appendonly == "yes":
            return (
                f"{self.server}: append-only file fsynced {self.appendfsync or 'on the server’s schedule'}, "
                "no WAITAOF: a power cut can lose the last ~2 s of accepted messages "
                "(set appendfsync always, or use Redis 7.2+ / Valkey)"
            )
        if self.appendonly == "no":
            return (
                f"{self.server}: append-only persistence is off: a Redis restart or a power cut can lose "
                "accepted messages (set appendonly yes and appendfsync always)"
            )
        return f"{self.server}: its persistence settings cannot be read (CONFIG is not allowed): durability unknown"


async def probe_durability(redis: aioredis.Redis) -> Durability:
    """Read the server's version, ``WAITAOF`` support and append-only settings without failing on
    servers that lack a command or refuse ``CONFIG`` (renamed, or denied to an ACL user)."""
    info = await redis.info("server")
    name = "valkey" if "valkey_version" in info else "redis"
    server = f"{name} {info.get('valkey_version') or info.get('redis_version', '?')}"
    appendonly, appendfsync = await _append_settings(redis)
    return Durability(server, appendonly == "yes" and await _has_waitaof(redis), appendonly, appendfsync)


async def _append_settings(redis: aioredis.Redis) -> tuple[str | None, str | None]:
    try:
        config = await redis.config_get("append*")
        return config.get("appendonly"), config.get("appendfsync")
    except exceptions.ResponseError:  # CONFIG renamed away or not allowed: INFO still says whether AOF is on
        enabled = (await redis.info("persistence")).get("aof_enabled")
        return (None if enabled is None else ("yes" if int(enabled) else "no")), None


async def _has_waitaof(redis: aioredis.Redis) -> bool:
    """``WAITAOF 0 0 0`` answers at once where the command exists (a nil ``COMMAND INFO`` entry on
    7.0 made redis-py's own parser fail)."""
    try:
        await redis.waitaof(0, 0, 0)
    except exceptions.ResponseError:  # unknown command, or not allowed to this ACL user
        return False
    return True


async def reach(
    url: str, *, retry: bool = False, say: Callable[[str], None] | None = None, max_delay: float = 30.0
) -> None:
    """Check that the Redis at ``url`` answers and accepts our credentials.

    ``RedisRefused`` at once for credentials or a database it refuses; ``RedisUnavailable`` if it
    does not answer, unless ``retry``: then try again with a growing delay, telling ``say`` each
    time, until it answers (or the caller is cancelled)."""
    delay = 1.0
    while True:
        try:
            return await _ping(url)
        except RedisUnavailable as error:
            if not retry:
                raise
            if say is not None:
                say(f"{error.message}; trying again in {delay:.0f} s")
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay)


async def _ping(url: str) -> None:
    where = f"REDIS_URL {redact_url(url)}"
    client = aioredis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        await client.ping()
    except (exceptions.AuthenticationError, exceptions.AuthorizationError, exceptions.NoPermissionError) as error:
        raise RedisRefused(f"{where}: Redis refused the credentials ({problem_of(error)})") from None
    except exceptions.ResponseError as error:  # e.g. a database index beyond the server's `databases`
        if is_outage(error):
            raise RedisUnavailable(f"{where}: Redis cannot serve yet ({problem_of(error)})") from None
        raise RedisRefused(f"{where}: Redis refused the connection ({problem_of(error)})") from None
    except (*OUTAGE_ERRORS, exceptions.RedisError) as error:
        raise RedisUnavailable(f"{where} does not answer ({problem_of(error)})") from None
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()
