"""The durable outbox of events forwarded to ``EVENTS_WEBHOOK_URL``, kept in Redis.

Each session has its own lane (a list, oldest first), so its events reach the receiver in order
while one session's failing delivery never holds up another's. A sorted set schedules the lanes:
a lane is due at its score (ms), a claimed lane is pushed out by a lease (a core that dies mid-
delivery leaves it to be claimed again), and a lane backing off after a failure waits there.
Deliveries that are given up land in a bounded list of failed deliveries that the API shows.

A forwarded body is ``{"id", "type", "sessionId", "timestamp" (ms), "data"}``; ``id`` stays the
same across retries (it is also the ``webhook-id`` header), so a receiver can deduplicate.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import redis.asyncio as aioredis

from waorch.clock import Clock
from waorch.core import keys
from waorch.core.keys import LUA_KEY, SLOT
from waorch.core.redis_replies import as_strs

FAILED_LIMIT = 1000

# KEYS: session hash, last forwarded status, lane, due lanes. ARGV: "status|reason", body, now ms, session id.
_PUSH_STATUS = """
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('GET', KEYS[2]) == ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[2])
redis.call('ZADD', KEYS[4], 'NX', ARGV[3], ARGV[4])
return 1
"""

# KEYS: due lanes, attempts. ARGV: now ms, lease end ms, how many, the key template of a lane.
_CLAIM = (
    LUA_KEY
    + """
local claimed = {}
for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))) do
  local head = redis.call('LINDEX', key(ARGV[4], sid), 0)
  if head then
    redis.call('ZADD', KEYS[1], ARGV[2], sid)
    claimed[#claimed + 1] = {sid, head, redis.call('HGET', KEYS[2], sid) or '0'}
  else
    redis.call('ZREM', KEYS[1], sid)
  end
end
return claimed
"""
)

# KEYS: lane, due lanes, attempts, failed. ARGV: session id, finished body, now ms, failed entry or '', failed limit.
_FINISH = """
if redis.call('LINDEX', KEYS[1], 0) == ARGV[2] then redis.call('LPOP', KEYS[1]) end
redis.call('HDEL', KEYS[3], ARGV[1])
if ARGV[4] ~= '' then
  redis.call('LPUSH', KEYS[4], ARGV[4])
  redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[5]) - 1)
end
if redis.call('LLEN', KEYS[1]) > 0 then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return 1
"""


def dumps(value: object) -> str:
    """Compact JSON that keeps non-ASCII text as it is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def envelope_head(kind: str, session_id: str, now_ms: int) -> str:
    """A new forwarded body up to its ``data`` value (append the data's JSON and ``}``)."""
    head = {"id": f"evt_{secrets.token_hex(12)}", "type": kind, "sessionId": session_id, "timestamp": now_ms}
    return dumps(head)[:-1] + ',"data":'


@dataclass(frozen=True)
class Claim:
    """The head of a session's lane, claimed for one delivery attempt."""

    session_id: str
    body: str
    attempts: int

    @cached_property
    def _parsed(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.body)  # a worker event, as the outbox stored it
        return event

    @property
    def delivery_id(self) -> str:
        """The body's ``id`` (the ``webhook-id`` of every attempt)."""
        return str(self._parsed["id"])

    def age(self, now: float) -> float:
        """Seconds from when the event was put in the outbox to ``now``."""
        return now - float(self._parsed["timestamp"]) / 1000


class Outbox:
    """Pending forwards per session, their schedule, and the failed ones (in the clock's time)."""

    def __init__(self, redis: aioredis.Redis, clock: Clock, failed_limit: int = FAILED_LIMIT) -> None:
        self.redis = redis
        self.clock = clock
        self.failed_limit = failed_limit
        self._push_status = redis.register_script(_PUSH_STATUS)
        self._claim = redis.register_script(_CLAIM)
        self._finish = redis.register_script(_FINISH)

    def now_ms(self) -> int:
        """The clock's time in milliseconds (lanes are scheduled in absolute time)."""
        return int(self.clock.now() * 1000)

    def message_push(self, session_id: str) -> tuple[list[str], list[str | int]]:
        """Keys and arguments with which the inbox script appends a ``message`` event to the lane."""
        now = self.now_ms()
        head = envelope_head("message", session_id, now)
        return [keys.forward_lane(session_id), keys.FORWARD_DUE], [head, now, session_id]

    async def status_changed(self, session_id: str, status: str, reason: str) -> None:
        """Queue a ``session.status`` event, unless it repeats the last one (a rotating QR code)."""
        now = self.now_ms()
        data = dumps({"status": str(status), "reason": reason or None})
        body = envelope_head("session.status", session_id, now) + data + "}"
        script_keys = [
            keys.session(session_id),
            keys.session_forwarded(session_id),
            keys.forward_lane(session_id),
            keys.FORWARD_DUE,
        ]
        await self._push_status(keys=script_keys, args=[f"{status}|{reason}", body, now, session_id])

    async def claim(self, count: int, lease: float) -> list[Claim]:
        """Claim up to ``count`` due lanes for ``lease`` real seconds (a delivery's bound); their heads
        are to be delivered."""
        now = self.now_ms()
        until = now + int(self.clock.clock_seconds(lease) * 1000)
        rows = await self._claim(
            keys=[keys.FORWARD_DUE, keys.FORWARD_ATTEMPTS], args=[now, until, count, keys.forward_lane(SLOT)]
        )
        return [Claim(sid, body, int(attempts)) for sid, body, attempts in rows]

    async def delivered(self, claim: Claim) -> None:
        """The head was delivered: drop it; the lane is due again if it has more."""
        await self._finish(keys=self._finish_keys(claim), args=self._finish_args(claim, ""))

    async def give_up(self, claim: Claim, error: str) -> None:
        """Move the head to the failed deliveries (after ``claim.attempts + 1`` attempts)."""
        entry = dumps(
            {
                "delivery": json.loads(claim.body),
                "attempts": claim.attempts + 1,
                "error": error,
                "failedAt": self.clock.now(),
            }
        )
        await self._finish(keys=self._finish_keys(claim), args=self._finish_args(claim, entry))

    @staticmethod
    def _finish_keys(claim: Claim) -> list[str]:
        return [keys.forward_lane(claim.session_id), keys.FORWARD_DUE, keys.FORWARD_ATTEMPTS, keys.FORWARD_FAILED]

    def _finish_args(self, claim: Claim, failed_entry: str) -> list[str | int]:
        return [claim.session_id, claim.body, self.now_ms(), failed_entry, self.failed_limit]

    async def retry_later(self, claim: Claim, delay: float) -> None:
        """Count the failed attempt; the lane (head first) is due again after ``delay`` seconds."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.FORWARD_ATTEMPTS, claim.session_id, claim.attempts + 1)
            pipe.zadd(keys.FORWARD_DUE, {claim.session_id: self.now_ms() + int(delay * 1000)})
            await pipe.execute()

    async def pending(self) -> int:
        """How many events wait to be forwarded, over all sessions."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid in as_strs(await self.redis.zrange(keys.FORWARD_DUE, 0, -1)):
                pipe.llen(keys.forward_lane(sid))
            return sum(await pipe.execute())

    async def forget_session(self, session_id: str) -> None:
        """Drop a deleted session's lane (its events not yet forwarded go with its messages) and its schedule."""
        async with self.redis.pipeline(transaction=False) as pipe:  # no MULTI: it works on a full Redis too
            pipe.delete(keys.forward_lane(session_id))
            pipe.zrem(keys.FORWARD_DUE, session_id)
            pipe.hdel(keys.FORWARD_ATTEMPTS, session_id)
            await pipe.execute()

    async def failed(self, limit: int) -> list[dict[str, Any]]:
        """Failed deliveries, newest first: ``{delivery, attempts, error, failedAt}``."""
        return [json.loads(row) for row in await self.redis.lrange(keys.FORWARD_FAILED, 0, limit - 1)]
