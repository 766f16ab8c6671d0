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

FIELDS = ("phone", "status", "proxy", "first_connected", "tier_pin", "last_ping")
# KEYS[1]: the sessions index. ARGV: key prefix, local day. Per session: id, FIELDS, depth, sent, failed.
_ROWS = """
local out = {}
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local f = redis.call('HMGET', ARGV[1]..'session:'..sid, 'phone', 'status', 'proxy', 'first_connected', 'tier_pin', 'last_ping')
  if f[2] then
    out[#out + 1] = sid
    for i = 1, 6 do out[#out + 1] = f[i] or '' end
    out[#out + 1] = redis.call('LLEN', ARGV[1]..'queue:'..sid)
    local c = redis.call('HMGET', ARGV[1]..'count:'..sid..':'..ARGV[2], 'sent', 'failed')
    out[#out + 1] = c[1] or '0'
    out[#out + 1] = c[2] or '0'
  end
end
return out
"""
WIDTH = 1 + len(FIELDS) + 3


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
        flat = await self._rows(keys=[keys.SESSIONS], args=[keys.PREFIX, day])
        return [_row(flat[at:at + WIDTH]) for at in range(0, len(flat), WIDTH)]


def _row(values: list[str | int]) -> FleetRow:
    sid, phone, status, proxy, first, pin, ping, depth, sent, failed = values
    return FleetRow(str(sid), str(phone), str(status), str(proxy), float(first or 0), str(pin), float(ping or 0),
                    int(depth), int(sent), int(failed))
