"""The failure breaker: a session whose sends fail, whose recipients are not on WhatsApp, or whose connection
keeps dropping stops sending by itself, before WhatsApp bans the number for it.

Each bad sign is kept in a per-session sorted set (``keys.breaker_signs``) scored by its time, and weighs by
its kind (``WEIGHTS``: a number not on WhatsApp, the strongest ban signal of the three, counts twice). When the
signs of the last ``BREAKER_WINDOW_MS`` weigh ``BREAKER_THRESHOLD`` or more, the session's sending holds for
``BREAKER_COOLOFF_MS`` (``Session.breaker_until``, with the reason): its messages stay queued, the API, the
control room and the log say why, and an alert goes out. An operator's resume ends the hold early. The signs
are cleared when it trips, so the cool-off starts the count afresh. ``BREAKER_THRESHOLD=0`` turns it off
(the default is 8).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from waorch.core import keys
from waorch.core.account_health import BREAKER_TRIPS, AccountHealth
from waorch.core.activity import WARNING, ActivityLog
from waorch.core.alerts import AlertKind
from waorch.core.sessions import SessionStore

log = logging.getLogger("waorch.breaker")

SEND_FAILED, NOT_ON_WHATSAPP, DISCONNECT = "send_failed", "not_on_whatsapp", "disconnect"
WEIGHTS = {SEND_FAILED: 1, NOT_ON_WHATSAPP: 2, DISCONNECT: 1}
WORDS = {SEND_FAILED: "failed sends", NOT_ON_WHATSAPP: "numbers not on WhatsApp", DISCONNECT: "disconnects"}

# Add a sign, drop those older than the window; if they weigh the threshold, clear them and say so.
# KEYS: the session's signs. ARGV: member (kind:unique), now, window s, threshold, then kind, weight pairs.
# Returns {tripped (0|1), kind, count, kind, count, ...}.
_SIGN = """
local signs, now = KEYS[1], tonumber(ARGV[2])
redis.call('ZADD', signs, now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', signs, '-inf', now - tonumber(ARGV[3]))
redis.call('EXPIRE', signs, math.ceil(tonumber(ARGV[3])))
local weights, counts, total = {}, {}, 0
for i = 5, #ARGV, 2 do weights[ARGV[i]] = tonumber(ARGV[i + 1]); counts[ARGV[i]] = 0 end
for _, member in ipairs(redis.call('ZRANGE', signs, 0, -1)) do
  local kind = string.match(member, '^([^:]+):')
  if counts[kind] then counts[kind] = counts[kind] + 1; total = total + weights[kind] end
end
local tripped = total >= tonumber(ARGV[4]) and 1 or 0
if tripped == 1 then redis.call('DEL', signs) end
local answer = {tripped}
for kind, count in pairs(counts) do answer[#answer + 1] = kind; answer[#answer + 1] = count end
return answer
"""


@dataclass(frozen=True)
class BreakerRule:
    """When the breaker trips: signs weighing ``threshold`` (0: never) within ``window_s``; for how long."""

    threshold: int
    window_s: float
    cooloff_s: float


class Breaker:
    """Counts a session's bad signs and holds its sending when they weigh too much."""

    def __init__(self, store: SessionStore, activity: ActivityLog, rule: BreakerRule, health: AccountHealth) -> None:
        self.store = store
        self.health = health  # counts the trips (the health score)
        self.activity = activity
        self.rule = rule
        self._sign = store.redis.register_script(_SIGN)

    async def sign(self, session_id: str, kind: str, unique: str) -> None:
        """A bad sign of ``kind`` (``unique``: what it was, so one thing counts once); trips the breaker if the
        signs of the window weigh the threshold."""
        if not self.rule.threshold:
            return
        now = self.store.clock.now()
        weights = [item for pair in WEIGHTS.items() for item in pair]
        args = [f"{kind}:{unique}", now, self.rule.window_s, self.rule.threshold, *weights]
        answer = await self._sign(keys=[keys.breaker_signs(session_id)], args=args)
        if int(answer[0]):
            counts = {str(answer[i]): int(answer[i + 1]) for i in range(1, len(answer), 2)}
            await self._trip(session_id, counts, now)

    async def _trip(self, session_id: str, counts: dict[str, int], now: float) -> None:
        signs = ", ".join(f"{counts[kind]} {WORDS[kind]}" for kind in WEIGHTS if counts.get(kind))
        reason = f"{signs} in {span(self.rule.window_s)}"
        until = now + self.rule.cooloff_s
        await self.store.update(session_id, breaker_until=until, breaker_reason=reason)
        await self.store.record(session_id, "breaker", {"reason": reason, "until": until})
        await self.health.note(session_id, BREAKER_TRIPS)
        log.warning("[%s] breaker tripped: %s; sending holds until %s", session_id, reason, until)
        await self.activity.add(
            WARNING,
            "breaker",
            f"breaker tripped ({reason}): sending holds for {span(self.rule.cooloff_s)}, or until resumed",
            session_id,
            AlertKind.BREAKER,
        )

    async def reset(self, session_id: str) -> None:
        """An operator resumed the session: the hold ends and the count starts afresh."""
        await self.store.update(session_id, breaker_until=0, breaker_reason="")
        await self.store.redis.delete(keys.breaker_signs(session_id))


def span(seconds: float) -> str:
    """``45 s``, ``30 min``, ``3 h``."""
    if seconds < 120:
        return f"{seconds:g} s"
    return f"{seconds / 60:g} min" if seconds < 7200 else f"{seconds / 3600:g} h"
