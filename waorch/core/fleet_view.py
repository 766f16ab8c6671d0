"""Every session's row for a view of the whole fleet, read in one Redis call.

A control room refreshes the fleet twice a second. One script returns, per session, the fields a
table shows, its queue depth and today's counters as one flat array (parsed in C by hiredis), so
a refresh of 500 sessions costs one round trip and no per-command Python work. The key names are
those :mod:`waorch.core.messages` and :mod:`waorch.core.sessions` write.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from waorch.core import keys
from waorch.core.keys import LUA_KEY, SLOT
from waorch.core.redis_hashes import from_redis_hash

FIELDS = ("phone", "status", "proxy", "first_connected", "tier_pin", "last_ping")
# KEYS[1]: the sessions index. ARGV: the key templates of a session, of its queue and of its counts of
# the local day. Per session: id, FIELDS, depth, sent, failed.
_ROWS = (
    LUA_KEY
    + """
local out = {}
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local f = redis.call('HMGET', key(ARGV[1], sid), 'phone', 'status', 'proxy', 'first_connected', 'tier_pin',
                       'last_ping')
  if f[2] then
    out[#out + 1] = sid
    for i = 1, 6 do out[#out + 1] = f[i] or '' end
    out[#out + 1] = redis.call('LLEN', key(ARGV[2], sid))
    local c = redis.call('HMGET', key(ARGV[3], sid), 'sent', 'failed')
    out[#out + 1] = c[1] or '0'
    out[#out + 1] = c[2] or '0'
  end
end
return out
"""
)
NAMES = ("id", *FIELDS, "depth", "sent", "failed")  # one row of the script's answer
WIDTH = len(NAMES)


@dataclass(frozen=True)
class FleetRow:
    """One session as a fleet view needs it."""

    id: str
    phone: str
    status: str
    proxy: str
    first_connected: float
    tier_pin: str
    last_ping: float
    depth: int
    sent: int
    failed: int


class FleetView:
    """Reads every session's row at once (oldest session first)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._rows = redis.register_script(_ROWS)

    async def rows(self, day: str) -> list[FleetRow]:
        """Every session with its queue depth and the counters of local ``day``."""
        templates = [keys.session(SLOT), keys.queue(SLOT), keys.counts(SLOT, day)]
        flat = await self._rows(keys=[keys.SESSIONS], args=templates)
        rows = (dict(zip(NAMES, flat[at : at + WIDTH], strict=True)) for at in range(0, len(flat), WIDTH))
        return [from_redis_hash(FleetRow, row) for row in rows]
