"""The daily pruning: what Redis keeps that does not expire by itself.

Most of what waorch stores already ends on its own: idempotency keys expire after 48 h, a
finished message's hash after ``MESSAGE_RETENTION_DAYS``, a day's counters after a week, and
the activity log, the alerts, an inbox and the lists of dead and unknown ids are capped. Two
things are left for this job:

- the lists of dead and of unknown message ids keep an id after its message has expired: such
  ids are dropped (the lists then hold only messages ``GET /api/v1/messages/{id}`` still finds);
- a day's counters written without an expiry: a message scheduled more than a week ahead is
  counted on its sending day, whose counters have expired when it is settled, and settling it
  writes them again; they are given the week they would have had.

Both are safe to run twice: a second run finds nothing to do.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from waorch.core import keys
from waorch.core.keys import LUA_KEY, SLOT
from waorch.core.messages import COUNT_TTL_S, SCAN_BATCH

# KEYS: a list of message ids. ARGV: the template of a message's key. The list keeps its order.
_DROP_EXPIRED = (
    LUA_KEY
    + """
local kept, gone = {}, 0
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if redis.call('EXISTS', key(ARGV[1], id)) == 1 then kept[#kept + 1] = id else gone = gone + 1 end
end
if gone > 0 then
  redis.call('DEL', KEYS[1])
  for i = 1, #kept, 1000 do redis.call('RPUSH', KEYS[1], unpack(kept, i, math.min(i + 999, #kept))) end
end
return gone
"""
)
# KEYS: keys that should expire. ARGV: their time to live (s). Those without one get it.
_GIVE_TTL = """
local given = 0
for _, name in ipairs(KEYS) do
  if redis.call('TTL', name) == -1 then
    redis.call('EXPIRE', name, ARGV[1])
    given = given + 1
  end
end
return given
"""


class Pruner:
    """Prunes what does not expire by itself (see the module's description)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._drop_expired = redis.register_script(_DROP_EXPIRED)
        self._give_ttl = redis.register_script(_GIVE_TTL)

    async def run(self, slot: float) -> str:
        """Prune once (``slot``: the daily job's, unused: pruning looks at what is there now); what it did."""
        gone = 0
        for ids in (keys.DEAD, keys.UNKNOWN):
            gone += int(await self._drop_expired(keys=[ids], args=[keys.message(SLOT)]))
        counters = await self._expire_counters()
        return (
            f"dropped {gone} id(s) of expired messages from the dead and unknown lists; "
            f"{counters} day counter(s) written without an expiry now expire"
        )

    async def _expire_counters(self) -> int:
        """Give every day's counters without an expiry the week they would have had; how many."""
        given, batch = 0, []
        async for name in self.redis.scan_iter(match=keys.counts("*", "*"), count=SCAN_BATCH):
            batch.append(name)
            if len(batch) == SCAN_BATCH:
                given += int(await self._give_ttl(keys=batch, args=[COUNT_TTL_S]))
                batch = []
        if batch:
            given += int(await self._give_ttl(keys=batch, args=[COUNT_TTL_S]))
        return given
