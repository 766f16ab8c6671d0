"""The single active core per Redis: a lease with a fencing epoch.

Only the holder of the lease runs the dispatcher, the start queue and the watchdog. Every new
holder raises the epoch (``INCR``); writes that must never come from two cores (starting a
worker, starting a send) carry the holder's epoch into their Lua script, which refuses them once
the epoch has moved on (``FENCED``). A holder renews every third of the TTL. When it cannot renew
in time (Redis unreachable) it stops acting before anyone else could take the lease, and takes it
again (with a new epoch) once Redis answers, unless another core was faster: then it has lost the
lease for good. A lease left by a process that is provably dead (same host, pid gone or reused) is
taken over at once instead of waiting for it to expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import psutil
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.typing import EncodableT

from waorch.core import keys
from waorch.core.redis_hashes import from_redis_hash
from waorch.core.redis_server import problem_of
from waorch.errors import CoreActive, Fenced

log = logging.getLogger("waorch.lease")

# KEYS: lease, epoch. ARGV: owner, ttl ms, url, host, pid, since, stale owner ('' = none).
_ACQUIRE = """
local holder = redis.call('HGET', KEYS[1], 'owner')
if holder and holder ~= ARGV[7] then return false end
local epoch = redis.call('INCR', KEYS[2])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'epoch', epoch, 'url', ARGV[3], 'host', ARGV[4],
           'pid', ARGV[5], 'since', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return epoch
"""
# KEYS: lease. ARGV: owner, ttl ms.
_RENEW = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
_RELEASE = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
"""
# Prefix of a fenced script: its last key is the epoch counter, its last argument the holder's epoch.
FENCE = """
if redis.call('GET', KEYS[#KEYS]) ~= ARGV[#ARGV] then return redis.error_reply('FENCED') end
"""


@dataclass(frozen=True)
class Holder:
    """Who holds the lease: where its API answers and which process it is."""

    owner: str
    epoch: int
    url: str
    host: str
    pid: int
    since: float

    def describe(self) -> str:
        """``pid 1234 on host, API http://...`` for messages."""
        return f"pid {self.pid} on {self.host}, API {self.url}"

    def is_dead(self) -> bool:
        """True if the holder was a process on this host that no longer runs."""
        if self.host != socket.gethostname():
            return False
        try:
            return psutil.Process(self.pid).create_time() > self.since + 1
        except psutil.NoSuchProcess:
            return True
        except psutil.Error:
            return False


async def current_holder(redis: aioredis.Redis) -> Holder | None:
    """The active core on this Redis, or ``None`` if there is none."""
    fields = await redis.hgetall(keys.CORE_LEASE)
    return from_redis_hash(Holder, fields) if fields.get("owner") else None


class CoreLease:
    """This process's claim to be the active core."""

    def __init__(self, redis: aioredis.Redis, url: str, ttl_ms: int = 10_000) -> None:
        self.redis = redis
        self.url = url
        self.ttl_ms = ttl_ms
        self.owner = uuid.uuid4().hex
        self.epoch = 0
        self.lost = asyncio.Event()
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def acquire(self) -> int:
        """Take the lease (or a dead holder's, or our own again); ``CoreActive`` if another live core holds it."""
        holder = await current_holder(self.redis)
        stale = holder.owner if holder and (holder.owner == self.owner or holder.is_dead()) else ""
        if holder and stale and stale != self.owner:
            log.warning("taking over the lease of a core that is gone (%s)", holder.describe())
        # ``since`` is the OS's time, not the core's clock: it is compared with the process's start time
        args: list[EncodableT] = [
            self.owner,
            self.ttl_ms,
            self.url,
            socket.gethostname(),
            os.getpid(),
            time.time(),
            stale,
        ]
        epoch = await self._acquire(keys=[keys.CORE_LEASE, keys.CORE_EPOCH], args=args)
        if not epoch:
            holder = await current_holder(self.redis)
            where = holder.describe() if holder else "it just started"
            raise CoreActive(
                f"another core is already active on this Redis ({where}); stop it first, "
                "or run `waorch` to attach a control room to it"
            )
        self.epoch = int(epoch)
        self.lost.clear()
        return self.epoch

    async def keep(self) -> str | None:
        """Renew until cancelled. Returns why the lease can no longer be counted on: ``lost`` is set
        if another core holds it (for good); otherwise it could not be renewed in time (Redis
        unreachable) and the reason is returned, while nobody else can have taken it yet."""
        last_renewal = time.monotonic()
        while not self.lost.is_set():
            with contextlib.suppress(TimeoutError):  # a fenced write that found a newer epoch ends the wait
                await asyncio.wait_for(self.lost.wait(), self.ttl_ms / 3000)
            if self.lost.is_set():
                break
            try:
                if not await self._renew(keys=[keys.CORE_LEASE], args=[self.owner, self.ttl_ms]):
                    self._step_down("another core holds the lease")
                last_renewal = time.monotonic()
            except (aioredis.RedisError, OSError) as error:
                if time.monotonic() - last_renewal > self.ttl_ms * 2 / 3000:
                    return f"the lease could not be renewed ({problem_of(error)})"
        return None

    def _step_down(self, reason: str) -> None:
        log.error("stepping down as the active core: %s", reason)
        self.lost.set()

    async def release(self) -> None:
        """Give the lease up (only if still ours)."""
        with contextlib.suppress(aioredis.RedisError, OSError):
            await self._release(keys=[keys.CORE_LEASE], args=[self.owner])

    async def fenced(self, script: AsyncScript, script_keys: list[str], args: Sequence[EncodableT]) -> object:
        """Run a script that starts with ``FENCE`` under this core's epoch; ``Fenced`` (and a step
        down) if a newer core has raised it."""
        try:
            return await script(keys=[*script_keys, keys.CORE_EPOCH], args=[*args, self.epoch])
        except aioredis.ResponseError as error:
            if "FENCED" not in str(error):
                raise
            self._step_down("a newer core raised the epoch")
            raise Fenced("another core took over; this one no longer acts") from None
