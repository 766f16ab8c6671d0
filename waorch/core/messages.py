"""Durable messages: one hash per message, a FIFO list per session, an in-flight slot, the outbox.

Every state change is one Lua script, so a message is never in two places and counters never
drift: ``queue:{sid}`` (waiting, head first) → ``inflight:{sid}`` (being sent) → done
(``sent`` / ``failed`` / ``dead`` / ``unknown``). Messages held for later (``sendAt``) wait in
the ``outbox`` sorted set and join their session's queue when due.

Nothing grows without bound: a finished message's hash expires after the retention (one that is
waiting or in flight never does), the lists of dead and unknown ids keep the newest, a session
remembers its newest contacts, a recipient's last sender is forgotten after a while, and
``forget_session`` removes every key a deleted session's sends left behind.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from waorch.core.batching import CommandBatcher
from waorch.core.lease import FENCE, CoreLease
from waorch.core.tiers import DAY_S, Tier
from waorch.errors import DailyLimit, MessageNotFound, SessionNotFound, SessionUnavailable
from waorch.shorten import shorten

P = "waorch:"
OUTBOX = P + "outbox"
DEAD = P + "dead"
UNKNOWN = P + "unknown"
QUEUES = P + "queues"
COUNT_TTL_S = 8 * 86400
SCAN_BATCH = 1000


class MessageStatus(StrEnum):
    """Lifecycle of a message."""

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    DEAD = "dead"


# The session check and the tier's daily limit are decided here too, so accepting a message is
# one round trip. ARGV: id, session, tier table, due (1|0), send at, now, to, text, created, count
# day. The tier table is {pins = {name: limit}, ages = {{min age s, limit}}}
# (the same rule as tiers.tier_for_age: a pinned tier wins, else the oldest tier the age reaches).
_ACCEPT = """
local id, sid, due, send_at = ARGV[1], ARGV[2], ARGV[4], ARGV[5]
local counts = KEYS[1]
local session = redis.call('HMGET', 'waorch:session:'..sid, 'status', 'first_connected', 'tier_pin')
if not session[1] then return {err = 'SESSION_NOT_FOUND'} end
if session[1] == 'logged_out' or session[1] == 'failed' or session[1] == 'stopped' then
  return {err = 'SESSION_UNAVAILABLE '..session[1]}
end
local spec = cjson.decode(ARGV[3])
spec.now = tonumber(ARGV[6])
local limit = spec.pins[session[3] or '']
if not limit then
  local first = tonumber(session[2] or '0') or 0
  local age = first > 0 and (spec.now - first) or 0
  limit = spec.ages[1][2]
  for _, row in ipairs(spec.ages) do if age >= row[1] then limit = row[2] end end
end
local used = tonumber(redis.call('HGET', counts, 'queued') or '0') + tonumber(redis.call('HGET', counts, 'sent') or '0')
if used >= limit then return {err = 'DAILY_LIMIT'} end
redis.call('HSET', 'waorch:msg:'..id, 'id', id, 'session', sid, 'to', ARGV[7], 'text', ARGV[8], 'created', ARGV[9],
  'send_at', send_at, 'count_day', ARGV[10], 'attempts', '0', 'status', due == '1' and 'queued' or 'scheduled')
if due == '1' then
  redis.call('RPUSH', 'waorch:queue:'..sid, id)
  redis.call('SADD', 'waorch:queues', sid)
else
  redis.call('ZADD', 'waorch:outbox', send_at, id)
end
redis.call('HINCRBY', counts, 'queued', 1)
redis.call('EXPIRE', counts, COUNT_TTL)
return used + 1
""".replace("COUNT_TTL", str(COUNT_TTL_S))

# ARGV: session, message id, now
_START = """
local sid, id = ARGV[1], ARGV[2]
if redis.call('LINDEX', 'waorch:queue:'..sid, 0) ~= id then return 0 end
redis.call('LMOVE', 'waorch:queue:'..sid, 'waorch:inflight:'..sid, 'LEFT', 'RIGHT')
redis.call('HSET', 'waorch:msg:'..id, 'status', 'sending', 'started', ARGV[3], 'error', '')
return redis.call('HINCRBY', 'waorch:msg:'..id, 'attempts', 1)
"""

# ARGV: session, id, now, outcome (sent|failed|dead|unknown), today, error, wa id, next gap,
# then the retention: message ttl s, dead/unknown list limit, contacts per session, contact ttl s.
_FINISH = """
local sid, id, now, outcome, today = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ttl, list_limit, contacts_limit = ARGV[9], tonumber(ARGV[10]), tonumber(ARGV[11])
local key = 'waorch:msg:'..id
local status = redis.call('HGET', key, 'status')
local bucket = 'waorch:count:'..sid..':'..today
if status == 'unknown' and outcome == 'sent' then
  -- the worker's own report settles a send we had given up on
  redis.call('HSET', key, 'status', 'sent', 'wa_id', ARGV[7], 'sent_at', now, 'error', '')
  redis.call('EXPIRE', key, ttl)
  redis.call('HINCRBY', bucket, 'sent', 1)
  redis.call('HINCRBY', bucket, 'unknown', -1)
  redis.call('LREM', 'waorch:unknown', 0, id)
  return 1
end
if status ~= 'sending' and status ~= 'queued' then return 0 end
redis.call('LREM', 'waorch:inflight:'..sid, 0, id)
redis.call('LREM', 'waorch:queue:'..sid, 0, id)
redis.call('HSET', key, 'status', outcome, 'finished', now, 'error', ARGV[6])
redis.call('EXPIRE', key, ttl)
local counted = redis.call('HGET', key, 'count_day')
redis.call('HINCRBY', 'waorch:count:'..sid..':'..counted, 'queued', -1)
if outcome == 'sent' then
  redis.call('HSET', key, 'wa_id', ARGV[7], 'sent_at', now)
  redis.call('HINCRBY', bucket, 'sent', 1)
  redis.call('ZADD', 'waorch:done:'..sid, now, id)
  redis.call('ZREMRANGEBYSCORE', 'waorch:done:'..sid, '-inf', tonumber(now) - 3600)
  redis.call('HSET', 'waorch:pace:'..sid, 'last_done', now, 'gap', ARGV[8])
  local to = redis.call('HGET', key, 'to')
  redis.call('SET', 'waorch:contact:'..to, sid, 'EX', ARGV[12])
  redis.call('ZADD', 'waorch:contacted:'..sid, now, to)
  redis.call('ZREMRANGEBYRANK', 'waorch:contacted:'..sid, 0, -contacts_limit - 1)
elseif outcome == 'unknown' then
  redis.call('HINCRBY', bucket, 'unknown', 1)
  redis.call('RPUSH', 'waorch:unknown', id)
  redis.call('LTRIM', 'waorch:unknown', -list_limit, -1)
else
  redis.call('HINCRBY', bucket, 'failed', 1)
  if outcome == 'dead' then
    redis.call('RPUSH', 'waorch:dead', id)
    redis.call('LTRIM', 'waorch:dead', -list_limit, -1)
  end
end
redis.call('EXPIRE', bucket, COUNT_TTL)
return 1
""".replace("COUNT_TTL", str(COUNT_TTL_S))

# ARGV: session, id, error, retry at
_RETRY = """
local sid, id = ARGV[1], ARGV[2]
if redis.call('LREM', 'waorch:inflight:'..sid, 0, id) == 0 then return 0 end
redis.call('LPUSH', 'waorch:queue:'..sid, id)
redis.call('HSET', 'waorch:msg:'..id, 'status', 'queued', 'error', ARGV[3], 'retry_at', ARGV[4])
return 1
"""

# ARGV: now, message ttl s
_PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', 'waorch:outbox', '-inf', ARGV[1], 'LIMIT', 0, 500)
local woken = {}
for _, id in ipairs(due) do
  redis.call('ZREM', 'waorch:outbox', id)
  local sid = redis.call('HGET', 'waorch:msg:'..id, 'session')
  if sid and redis.call('EXISTS', 'waorch:session:'..sid) == 0 then
    redis.call('HSET', 'waorch:msg:'..id, 'status', 'failed', 'error', 'session deleted', 'finished', ARGV[1])
    redis.call('EXPIRE', 'waorch:msg:'..id, ARGV[2])
  elseif sid then
    redis.call('RPUSH', 'waorch:queue:'..sid, id)
    redis.call('SADD', 'waorch:queues', sid)
    redis.call('HSET', 'waorch:msg:'..id, 'status', 'queued')
    woken[#woken + 1] = sid
  end
end
return woken
"""

# A deleted session's keys (its session hash is already gone). Messages still waiting (an accept
# that raced the delete) fail; the recipients whose last sender it was forget it.
# ARGV: session, now, message ttl s
_FORGET = """
local sid = ARGV[1]
local queue, inflight, contacted = 'waorch:queue:'..sid, 'waorch:inflight:'..sid, 'waorch:contacted:'..sid
for _, list in ipairs({queue, inflight}) do
  for _, id in ipairs(redis.call('LRANGE', list, 0, -1)) do
    redis.call('HSET', 'waorch:msg:'..id, 'status', 'failed', 'error', 'session deleted', 'finished', ARGV[2])
    redis.call('EXPIRE', 'waorch:msg:'..id, ARGV[3])
  end
end
for _, to in ipairs(redis.call('ZRANGE', contacted, 0, -1)) do
  if redis.call('GET', 'waorch:contact:'..to) == sid then redis.call('DEL', 'waorch:contact:'..to) end
end
redis.call('SREM', 'waorch:queues', sid)
-- waorch:contacts:<sid> is the unbounded set kept before contacts were capped
return redis.call('DEL', queue, inflight, contacted, 'waorch:contacts:'..sid, 'waorch:done:'..sid, 'waorch:pace:'..sid)
"""

# Scheduled messages of a deleted session fail now rather than when due. ARGV: now, message ttl s, ids...
_FAIL_SCHEDULED = """
for i = 3, #ARGV do
  if redis.call('ZREM', 'waorch:outbox', ARGV[i]) == 1 then
    redis.call('HSET', 'waorch:msg:'..ARGV[i], 'status', 'failed', 'error', 'session deleted', 'finished', ARGV[1])
    redis.call('EXPIRE', 'waorch:msg:'..ARGV[i], ARGV[2])
  end
end
return 1
"""


@dataclass(frozen=True)
class Retention:
    """How long finished messages, and what sends leave behind, are kept."""

    message_s: int = 7 * DAY_S  # a finished message's hash (MESSAGE_RETENTION_DAYS)
    list_limit: int = 10_000  # newest ids kept in the lists of dead and of unknown messages
    contacts_per_session: int = 10_000  # newest recipients a session remembers having written to
    contact_s: int = 90 * DAY_S  # a recipient's last sender is forgotten after this

    def finish_args(self) -> list[int]:
        """The retention arguments of the finishing script."""
        return [self.message_s, self.list_limit, self.contacts_per_session, self.contact_s]


@dataclass(frozen=True)
class Message:
    """One message as stored (times are unix seconds, 0 when unset)."""

    id: str
    session: str
    to: str
    text: str
    status: str
    created: float = 0.0
    send_at: float = 0.0
    count_day: str = ""
    attempts: int = 0
    started: float = 0.0
    finished: float = 0.0
    sent_at: float = 0.0
    retry_at: float = 0.0
    wa_id: str = ""
    error: str = ""

    @classmethod
    def from_hash(cls, data: dict[str, str]) -> Message:
        """Build from a Redis hash."""
        kinds = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, kind in kinds.items():
            if name in data:
                raw = data[name]
                values[name] = float(raw or 0) if kind == "float" else int(raw or 0) if kind == "int" else raw
        return cls(**values)



def _limits(tiers: tuple[Tier, ...]) -> str:
    spec = {"pins": {t.name: t.daily_limit for t in tiers}, "ages": [[t.min_age_days * DAY_S, t.daily_limit] for t in tiers]}
    return json.dumps(spec)


def _accept_error(error: aioredis.ResponseError, session_id: str) -> Exception:
    """The waorch error for the accepting script's own refusals; Redis's own (full, loading) as they are."""
    text = str(error)
    if text.startswith("DAILY_LIMIT"):
        return DailyLimit("the session's daily limit is reached", session_id=session_id)
    if text.startswith("SESSION_NOT_FOUND"):
        return SessionNotFound(f"no session {session_id}", session_id=session_id)
    if text.startswith("SESSION_UNAVAILABLE"):
        status = text.split()[1] if len(text.split()) > 1 else "unavailable"
        return SessionUnavailable(f"session is {status}: it cannot send", session_id=session_id)
    return error


def new_message_id() -> str:
    """A fresh message id."""
    return "msg_" + secrets.token_hex(12)


class MessageStore:
    """Messages and per-session queues in Redis."""

    def __init__(self, redis: aioredis.Redis, lease: CoreLease, retention: Retention = Retention()) -> None:
        self.redis = redis
        self.retention = retention
        self.batcher = CommandBatcher(redis)
        self._lease = lease  # only the active core may start a send (fenced by its epoch)
        self._accept = redis.register_script(_ACCEPT)
        self._start = redis.register_script(FENCE + _START)
        self._finish = redis.register_script(_FINISH)
        self._retry = redis.register_script(_RETRY)
        self._promote = redis.register_script(_PROMOTE)
        self._forget = redis.register_script(_FORGET)
        self._fail_scheduled = redis.register_script(_FAIL_SCHEDULED)
        self._tiers: tuple[Tier, ...] = ()
        self._limits = _limits(())

    async def accept(self, message: Message, tiers: tuple[Tier, ...], now: float, due: bool, *, fsync: bool = False) -> bool:
        """Store and enqueue (or schedule) ``message`` if its session can send and the day's count
        stays under the daily limit of the session's tier (``SESSION_NOT_FOUND``, ``SESSION_UNAVAILABLE``,
        ``DAILY_LIMIT`` otherwise).

        With ``fsync``, a ``WAITAOF`` in the same batch follows the write; returns whether the
        write is confirmed on disk (True without it: the server's own policy applies).
        """
        counts = f"{P}count:{message.session}:{message.count_day}"
        if tiers is not self._tiers:  # the tier store hands out the same tuple while it is current
            self._tiers, self._limits = tiers, _limits(tiers)
        # all strings: hiredis packs a float argument at twice the cost (repr is what it sends)
        args = (message.id, message.session, self._limits, "1" if due else "0", repr(message.send_at), repr(now),
                message.to, message.text, repr(message.created), message.count_day)
        result, durable = await self._accept_batched(counts, args, fsync)
        if isinstance(result, NoScriptError):
            await self.redis.script_load(_ACCEPT)
            result, durable = await self._accept_batched(counts, args, fsync)
        if isinstance(result, aioredis.ResponseError):
            raise _accept_error(result, message.session)
        return durable

    async def _accept_batched(self, counts: str, args: tuple[object, ...], fsync: bool) -> tuple[Any, bool]:
        if not fsync:
            return await self.batcher.execute("EVALSHA", self._accept.sha, "1", counts, *args), True
        return await self.batcher.execute_durably("EVALSHA", self._accept.sha, "1", counts, *args)

    async def get(self, message_id: str) -> Message:
        """One message (``MESSAGE_NOT_FOUND``)."""
        data = await self.redis.hgetall(P + "msg:" + message_id)
        if not data:
            raise MessageNotFound(f"no message {message_id}")
        return Message.from_hash(data)

    async def find(self, message_id: str) -> Message | None:
        """One message, or ``None``."""
        data = await self.redis.hgetall(P + "msg:" + message_id)
        return Message.from_hash(data) if data else None

    async def inflight(self, session_id: str) -> list[str]:
        """Ids of messages whose send was started and not yet settled."""
        return await self.redis.lrange(f"{P}inflight:{session_id}", 0, -1)

    async def start(self, session_id: str, message_id: str, now: float) -> int:
        """Move the head into flight; returns its attempt number (0 if it is no longer the head).

        ``Fenced`` if another core has taken over since this one took the lease."""
        return int(await self._lease.fenced(self._start, [], [session_id, message_id, now]))

    async def finish(self, session_id: str, message_id: str, now: float, outcome: MessageStatus, today: str,
                     *, error: str = "", wa_id: str = "", next_gap: float = 0.0) -> bool:
        """Settle a message as sent / failed / dead / unknown (False if it was already settled)."""
        args = [session_id, message_id, now, outcome.value, today, shorten(error, 300), wa_id, next_gap]
        return bool(await self._finish(args=args + self.retention.finish_args()))

    async def retry(self, session_id: str, message_id: str, error: str, retry_at: float) -> bool:
        """Put an in-flight message back at the head of its queue, to be tried again at ``retry_at``."""
        return bool(await self._retry(args=[session_id, message_id, shorten(error, 300), retry_at]))

    async def promote_due(self, now: float) -> list[str]:
        """Move due scheduled messages into their queues; returns the sessions to wake."""
        return list(await self._promote(args=[now, self.retention.message_s]))

    async def depth(self, session_id: str) -> int:
        """Messages waiting in a session's queue."""
        return int(await self.redis.llen(f"{P}queue:{session_id}"))

    async def peek(self, session_id: str, count: int = 10) -> list[Message]:
        """The first ``count`` waiting messages."""
        ids = await self.redis.lrange(f"{P}queue:{session_id}", 0, count - 1)
        return [m for m in [await self.find(i) for i in ids] if m is not None]

    async def counts(self, session_id: str, day: str) -> dict[str, int]:
        """Per-day counters: queued, sent, failed, unknown."""
        raw = await self.redis.hgetall(f"{P}count:{session_id}:{day}")
        return {name: int(raw.get(name, 0)) for name in ("queued", "sent", "failed", "unknown")}

    async def done_since(self, session_id: str, since: float) -> list[float]:
        """Completion times of sends since ``since``, oldest first."""
        rows = await self.redis.zrangebyscore(f"{P}done:{session_id}", since, "+inf", withscores=True)
        return [score for _, score in rows]

    async def pacing_facts(self, session_id: str, since: float, day: str) -> tuple[float, float, list[float], int]:
        """``(last_done, gap, completion times since since, sent on day)`` in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(f"{P}pace:{session_id}", "last_done", "gap")
            pipe.zrangebyscore(f"{P}done:{session_id}", since, "+inf", withscores=True)
            pipe.hget(f"{P}count:{session_id}:{day}", "sent")
            pace, done, sent = await pipe.execute()
        return float(pace[0] or 0), float(pace[1] or 0), [score for _, score in done], int(sent or 0)

    async def queue_state(self, session_id: str) -> tuple[dict[str, str], list[str], str | None]:
        """``(session hash, in-flight ids, head id)`` of a session in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(f"{P}session:{session_id}")
            pipe.lrange(f"{P}inflight:{session_id}", 0, -1)
            pipe.lindex(f"{P}queue:{session_id}", 0)
            session, inflight, head = await pipe.execute()
        return session, inflight, head

    async def set_gap(self, session_id: str, gap: float) -> None:
        """Replace the drawn gap (after a live tier change)."""
        await self.redis.hset(f"{P}pace:{session_id}", "gap", gap)

    async def sessions_with_work(self) -> list[str]:
        """Sessions that have (or had) queued or in-flight messages."""
        return sorted(await self.redis.smembers(QUEUES))

    async def last_sender(self, to: str) -> str | None:
        """The session that last talked to ``to``."""
        return await self.redis.get(f"{P}contact:{to}")

    async def is_contact(self, session_id: str, to: str) -> bool:
        """Whether the session has sent to ``to`` before (among its newest contacts)."""
        return await self.redis.zscore(f"{P}contacted:{session_id}", to) is not None

    async def forget_session(self, session_id: str, now: float) -> None:
        """Remove every key a deleted session's sends left behind; its waiting and scheduled messages
        fail (``session deleted``) and expire like every finished message."""
        await self._forget(args=[session_id, now, self.retention.message_s])
        if scheduled := await self._scheduled_on(session_id):
            await self._fail_scheduled(args=[now, self.retention.message_s, *scheduled])
        counts = [key async for key in self.redis.scan_iter(match=f"{P}count:{session_id}:*", count=SCAN_BATCH)]
        if counts:
            await self.redis.delete(*counts)

    async def _scheduled_on(self, session_id: str) -> list[str]:
        """Ids of the scheduled messages of a session (the outbox is shared by all sessions)."""
        ids = [message_id async for message_id, _ in self.redis.zscan_iter(OUTBOX, count=SCAN_BATCH)]
        async with self.redis.pipeline(transaction=False) as pipe:
            for message_id in ids:
                pipe.hget(f"{P}msg:{message_id}", "session")
            owners = await pipe.execute()
        return [message_id for message_id, owner in zip(ids, owners, strict=True) if owner == session_id]

