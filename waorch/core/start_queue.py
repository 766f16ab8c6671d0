"""The durable queue of worker starts, spaced by ``PROVISIONING_INTERVAL_MS``.

A burst of new logins from one host is a ban signal, so every start (first provision, restart,
failover) goes through one queue in Redis: a sorted set scored by the earliest start time, which
also deduplicates (a session waits at most once) and lets restarts back off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from waorch.clock import Clock
from waorch.core import keys
from waorch.core.lease import FENCE, CoreLease
from waorch.core.redis_replies import as_optional_str, as_scored, as_strs
from waorch.core.redis_server import is_outage
from waorch.errors import Fenced

log = logging.getLogger("waorch.start_queue")

# Pops the first due entry: KEYS[1] = the queue, ARGV[1] = now in ms.
_POP_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1)
if #due == 0 then return false end
redis.call('ZREM', KEYS[1], due[1])
return due[1]
"""


async def start_due_at(redis: aioredis.Redis, session_id: str) -> float | None:
    """When ``session_id``'s start is due (unix seconds; it may be waiting for its turn), or ``None``."""
    score = await redis.zscore(keys.PROVISION_QUEUE, session_id)
    return None if score is None else float(score) / 1000


class StartQueue:
    """Enqueue session starts; a loop starts them one at a time, spaced."""

    def __init__(
        self,
        redis: aioredis.Redis,
        clock: Clock,
        interval_ms: int,
        start: Callable[[str], Awaitable[None]],
        lease: CoreLease,
    ) -> None:
        self.redis = redis
        self.clock = clock
        self.interval = interval_ms / 1000
        self._start = start
        self._lease = lease
        self._pop = redis.register_script(FENCE + _POP_DUE)

    async def enqueue(self, session_id: str, delay: float = 0.0) -> None:
        """Start ``session_id`` no sooner than ``delay`` seconds from now (no-op if already queued)."""
        await self.redis.zadd(keys.PROVISION_QUEUE, {session_id: (self.clock.now() + delay) * 1000}, nx=True)

    async def discard(self, session_id: str) -> None:
        """Take a session out of the queue."""
        await self.redis.zrem(keys.PROVISION_QUEUE, session_id)

    async def pending(self) -> list[str]:
        """Session ids waiting to start, earliest first."""
        return as_strs(await self.redis.zrange(keys.PROVISION_QUEUE, 0, -1))

    async def due_at(self, session_id: str) -> float | None:
        """When ``session_id``'s start is due (unix seconds; it may be waiting for its turn), or ``None``."""
        return await start_due_at(self.redis, session_id)

    async def schedule(self) -> dict[str, float]:
        """Every waiting session's due time (unix seconds)."""
        waiting = as_scored(await self.redis.zrange(keys.PROVISION_QUEUE, 0, -1, withscores=True))
        return {session_id: score / 1000 for session_id, score in waiting}

    async def _pop_due(self) -> str | None:
        """The next due session, fenced: a core whose epoch is stale starts nothing."""
        now_ms = int(self.clock.now() * 1000)
        return as_optional_str(await self._lease.fenced(self._pop, [keys.PROVISION_QUEUE], [now_ms]))

    async def run_forever(self, stopping: asyncio.Event) -> None:
        """Start due sessions one by one, ``interval`` apart, until ``stopping`` is set.

        The flag (besides cancellation) matters: a cancellation that arrives while redis-py is
        mid-command can be swallowed by it, and the loop must still end.
        """
        while not stopping.is_set():
            try:
                session_id = await self._pop_due()
            except Fenced:
                return
            except (aioredis.RedisError, OSError) as error:
                if not is_outage(error):
                    raise
                await asyncio.sleep(1.0)  # the core stops this loop if the outage lasts
                continue
            if session_id is None:
                await asyncio.sleep(0.05)
                continue
            try:
                await self._start(session_id)
            except Exception:
                log.exception("[%s] worker start failed", session_id)
            await asyncio.sleep(self.interval)
