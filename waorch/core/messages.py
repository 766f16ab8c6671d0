"""Durable messages: one hash per message, a FIFO list per session, an in-flight slot, the outbox.

Every state change is one Lua script, so a message is never in two places and counters never
drift: ``keys.queue`` (waiting, head first) → ``keys.inflight`` (being sent) → done
(``sent`` / ``failed`` / ``dead`` / ``unknown``). Messages held for later (``sendAt``) wait in
the ``keys.SCHEDULED`` sorted set and join their session's queue when due.

Nothing grows without bound: a finished message's hash expires after the retention (one that is
waiting or in flight never does), the lists of dead and unknown ids keep the newest, a session
remembers its newest contacts, a recipient's last sender is forgotten after a while, and
``forget_session`` removes every key a deleted session's sends left behind.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError
from redis.typing import EncodableT

from waorch.core import keys
from waorch.core.batching import CommandBatcher
from waorch.core.keys import LUA_KEY, SLOT
from waorch.core.lease import FENCE, CoreLease
from waorch.core.pacing import WINDOW_S
from waorch.core.redis_hashes import from_redis_hash
from waorch.core.redis_replies import as_int, as_optional_str, as_scored, as_strs
from waorch.core.tiers import DAY_S, Tier
from waorch.errors import DailyLimit, MessageNotFound, SessionNotFound, SessionUnavailable
from waorch.shorten import shorten

COUNT_TTL_S = 8 * 86400
ACCEPT_KEY_COUNT = "6"  # the accepting script's KEYS (sent as a string: it is the hot path)
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
    CHECKED = "checked"  # a number check that got its answer (``on_whatsapp``)


CHECK = "check"  # the kind of a number check: paced like a send, it asks whether ``to`` is on WhatsApp


# The session check and the tier's daily limit are decided here too, so accepting a message is
# one round trip. KEYS: day's counts, session, message, queue, sessions with work, scheduled.
# ARGV: id, session, tier table, due (1|0), send at, now, to, text, created, count day, kind ("": a text).
# Number checks count against the daily limit like sends.
# The tier table is {pins = {name: limit}, ages = {{min age s, limit}}}
# (the same rules as tiers.account_age and tiers.tier_for_age: age 0 until first connected; a pinned tier
# wins, else the oldest tier the age reaches).
_ACCEPT = """
local id, sid, due, send_at = ARGV[1], ARGV[2], ARGV[4], ARGV[5]
local counts, message = KEYS[1], KEYS[3]
local session = redis.call('HMGET', KEYS[2], 'status', 'first_connected', 'tier_pin')
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
local used = 0
for _, n in ipairs(redis.call('HMGET', counts, 'queued', 'sent', 'checks')) do used = used + (tonumber(n) or 0) end
if used >= limit then return {err = 'DAILY_LIMIT'} end
redis.call('HSET', message, 'id', id, 'session', sid, 'to', ARGV[7], 'text', ARGV[8], 'created', ARGV[9],
  'send_at', send_at, 'count_day', ARGV[10], 'attempts', '0', 'status', due == '1' and 'queued' or 'scheduled')
if ARGV[11] ~= '' then redis.call('HSET', message, 'kind', ARGV[11]) end
if due == '1' then
  redis.call('RPUSH', KEYS[4], id)
  redis.call('SADD', KEYS[5], sid)
else
  redis.call('ZADD', KEYS[6], send_at, id)
end
redis.call('HINCRBY', counts, 'queued', 1)
redis.call('EXPIRE', counts, COUNT_TTL)
return used + 1
""".replace("COUNT_TTL", str(COUNT_TTL_S))

# The head, or a later message the dispatcher chose past messages whose recipients' caps hold them.
# The first write may take memory (RPUSH), so a full Redis refuses the script before it changes anything
# (a script that wrote once may go on writing past maxmemory): the message waits in its queue.
# KEYS: queue, in flight, message. ARGV: message id, now.
_START = """
local queue, inflight, message = KEYS[1], KEYS[2], KEYS[3]
if not redis.call('LPOS', queue, ARGV[1]) then return 0 end
redis.call('RPUSH', inflight, ARGV[1])
redis.call('LREM', queue, 1, ARGV[1])
redis.call('HSET', message, 'status', 'sending', 'started', ARGV[2], 'error', '')
return redis.call('HINCRBY', message, 'attempts', 1)
"""

# KEYS: message, today's counts, in flight, queue, done, pace, contacted, unknown ids, dead ids, awaiting reply.
# ARGV: session, id, now, outcome (sent|failed|dead|unknown), error, wa id, next gap, then the
# retention: message ttl s, dead/unknown list limit, contacts per session, contact ttl s; then the
# templates of the session's counts of a day, of a recipient's last sender and of the session's sends to a
# recipient. A send that went, or may have gone (unknown), counts against the recipient's caps, and against
# the day's new contacts if the recipient was not one. A sent one awaits the recipient's reply (the health score).
_FINISH = (
    LUA_KEY
    + """
local sid, id, now, outcome = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local ttl, list_limit, contacts_limit = ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10])
local counts_of, contact, sends_to = ARGV[12], ARGV[13], ARGV[14]
local message, bucket, inflight, queue, done, pace, contacted, unknown, dead, awaiting = unpack(KEYS)
local status = redis.call('HGET', message, 'status')
if status == 'unknown' and outcome == 'sent' then
  -- the worker's own report settles a send we had given up on
  redis.call('HSET', message, 'status', 'sent', 'wa_id', ARGV[6], 'sent_at', now, 'error', '')
  redis.call('EXPIRE', message, ttl)
  redis.call('HINCRBY', bucket, 'sent', 1)
  redis.call('HINCRBY', bucket, 'unknown', -1)
  redis.call('LREM', unknown, 0, id)
  return 1
end
if status ~= 'sending' and status ~= 'queued' then return 0 end
redis.call('LREM', inflight, 0, id)
redis.call('LREM', queue, 0, id)
redis.call('HSET', message, 'status', outcome, 'finished', now, 'error', ARGV[5])
redis.call('EXPIRE', message, ttl)
redis.call('HINCRBY', key(counts_of, redis.call('HGET', message, 'count_day')), 'queued', -1)
if outcome == 'sent' or outcome == 'unknown' then
  local to = redis.call('HGET', message, 'to')
  if not redis.call('ZSCORE', contacted, to) then redis.call('HINCRBY', bucket, 'new_contacts', 1) end
  local sends = key(sends_to, to)
  redis.call('ZADD', sends, now, id)
  redis.call('ZREMRANGEBYSCORE', sends, '-inf', tonumber(now) - DAY)
  redis.call('EXPIRE', sends, DAY)
end
if outcome == 'sent' then
  redis.call('HSET', message, 'wa_id', ARGV[6], 'sent_at', now)
  redis.call('HINCRBY', bucket, 'sent', 1)
  redis.call('ZADD', done, now, id)
  redis.call('ZREMRANGEBYSCORE', done, '-inf', tonumber(now) - 3600)
  redis.call('HSET', pace, 'last_done', now, 'gap', ARGV[7])
  local to = redis.call('HGET', message, 'to')
  redis.call('SET', key(contact, to), sid, 'EX', ARGV[11])
  redis.call('ZADD', contacted, now, to)
  redis.call('ZREMRANGEBYRANK', contacted, 0, -contacts_limit - 1)
  redis.call('ZREMRANGEBYSCORE', awaiting, '-inf', tonumber(now) - DAY)
  if redis.call('ZADD', awaiting, now, to) == 1 then redis.call('HINCRBY', bucket, 'awaited', 1) end
  redis.call('ZREMRANGEBYRANK', awaiting, 0, -contacts_limit - 1)
  redis.call('EXPIRE', awaiting, DAY)
elseif outcome == 'unknown' then
  redis.call('HINCRBY', bucket, 'unknown', 1)
  redis.call('RPUSH', unknown, id)
  redis.call('LTRIM', unknown, -list_limit, -1)
else
  redis.call('HINCRBY', bucket, 'failed', 1)
  if outcome == 'dead' then
    redis.call('RPUSH', dead, id)
    redis.call('LTRIM', dead, -list_limit, -1)
  end
end
redis.call('EXPIRE', bucket, COUNT_TTL)
return 1
""".replace("COUNT_TTL", str(COUNT_TTL_S)).replace("DAY", str(DAY_S))
)

# A number check answered: settled, counted against the day and paced like a send (never a contact).
# KEYS: message, today's counts, in flight, queue, done, pace. ARGV: id, now, on WhatsApp (1|0), next gap,
# message ttl s, the template of the session's counts of a day.
_FINISH_CHECK = (
    LUA_KEY
    + """
local message, bucket, inflight, queue, done, pace = unpack(KEYS)
local id, now = ARGV[1], ARGV[2]
local status = redis.call('HGET', message, 'status')
if status ~= 'sending' and status ~= 'queued' then return 0 end
redis.call('LREM', inflight, 0, id)
redis.call('LREM', queue, 0, id)
redis.call('HSET', message, 'status', 'checked', 'finished', now, 'on_whatsapp', ARGV[3], 'error', '')
redis.call('EXPIRE', message, ARGV[5])
redis.call('HINCRBY', key(ARGV[6], redis.call('HGET', message, 'count_day')), 'queued', -1)
redis.call('HINCRBY', bucket, 'checks', 1)
redis.call('EXPIRE', bucket, COUNT_TTL)
redis.call('ZADD', done, now, id)
redis.call('ZREMRANGEBYSCORE', done, '-inf', tonumber(now) - 3600)
redis.call('HSET', pace, 'last_done', now, 'gap', ARGV[4])
return 1
""".replace("COUNT_TTL", str(COUNT_TTL_S))
)

# KEYS: in flight, queue, message. ARGV: id, error, retry at.
_RETRY = """
if redis.call('LREM', KEYS[1], 0, ARGV[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], 'status', 'queued', 'error', ARGV[2], 'retry_at', ARGV[3])
return 1
"""

# KEYS: scheduled, sessions with work. ARGV: now, message ttl s, templates of a message, a session
# and a queue.
_PROMOTE = (
    LUA_KEY
    + """
local message_of, session_of, queue_of = ARGV[3], ARGV[4], ARGV[5]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 500)
local woken = {}
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  local message = key(message_of, id)
  local sid = redis.call('HGET', message, 'session')
  if sid and redis.call('EXISTS', key(session_of, sid)) == 0 then
    redis.call('HSET', message, 'status', 'failed', 'error', 'session deleted', 'finished', ARGV[1])
    redis.call('EXPIRE', message, ARGV[2])
  elseif sid then
    redis.call('RPUSH', key(queue_of, sid), id)
    redis.call('SADD', KEYS[2], sid)
    redis.call('HSET', message, 'status', 'queued')
    woken[#woken + 1] = sid
  end
end
return woken
"""
)

# A deleted session's keys (its session hash is already gone). Messages still waiting (an accept
# that raced the delete) fail; the recipients whose last sender it was forget it.
# KEYS: queue, in flight, contacted, contacts (uncapped, older versions), done, pace, sessions with
# work. ARGV: session, now, message ttl s, templates of a message and of a recipient's last sender.
_FORGET = (
    LUA_KEY
    + """
local sid, message_of, contact = ARGV[1], ARGV[4], ARGV[5]
for _, list in ipairs({KEYS[1], KEYS[2]}) do
  for _, id in ipairs(redis.call('LRANGE', list, 0, -1)) do
    redis.call('HSET', key(message_of, id), 'status', 'failed', 'error', 'session deleted', 'finished', ARGV[2])
    redis.call('EXPIRE', key(message_of, id), ARGV[3])
  end
end
for _, to in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  if redis.call('GET', key(contact, to)) == sid then redis.call('DEL', key(contact, to)) end
end
redis.call('SREM', KEYS[7], sid)
return redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
"""
)

# Scheduled messages of a deleted session fail now rather than when due.
# KEYS: scheduled, then the messages. ARGV: now, message ttl s, then their ids.
_FAIL_SCHEDULED = """
for i = 3, #ARGV do
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    redis.call('HSET', KEYS[i - 1], 'status', 'failed', 'error', 'session deleted', 'finished', ARGV[1])
    redis.call('EXPIRE', KEYS[i - 1], ARGV[2])
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
class PacingFacts:
    """A session's past sends as pacing reads them before a send to one recipient."""

    last_done: float
    gap: float
    done_last_minute: list[float]
    sent_today: int  # sends and number checks of the local day
    new_contacts_today: int
    contact: bool  # the session wrote to the recipient before, or the recipient wrote to it
    to_recipient: list[float]  # when its sends to the recipient in the last 24 hours finished, oldest first


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
    kind: str = ""  # "": a text; ``CHECK``: a number check
    on_whatsapp: str = ""  # a check's answer: "1", "0", "" while unanswered


def _limits(tiers: tuple[Tier, ...]) -> str:
    spec = {
        "pins": {t.name: t.daily_limit for t in tiers},
        "ages": [[t.min_age_days * DAY_S, t.daily_limit] for t in tiers],
    }
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


def _finish_keys(session_id: str, message_id: str, today: str) -> list[str]:
    """The keys of the finishing script, in its order."""
    return [
        keys.message(message_id),
        keys.counts(session_id, today),
        keys.inflight(session_id),
        keys.queue(session_id),
        keys.done(session_id),
        keys.pace(session_id),
        keys.contacted(session_id),
        keys.UNKNOWN,
        keys.DEAD,
        keys.awaiting_reply(session_id),
    ]


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
        self._finish_check = redis.register_script(_FINISH_CHECK)
        self._retry = redis.register_script(_RETRY)
        self._promote = redis.register_script(_PROMOTE)
        self._forget = redis.register_script(_FORGET)
        self._fail_scheduled = redis.register_script(_FAIL_SCHEDULED)
        self._tiers: tuple[Tier, ...] = ()
        self._limits = _limits(())

    async def accept(
        self, message: Message, tiers: tuple[Tier, ...], now: float, due: bool, *, fsync: bool = False
    ) -> bool:
        """Store and enqueue (or schedule) ``message`` if its session can send and the day's count
        stays under the daily limit of the session's tier (``SESSION_NOT_FOUND``, ``SESSION_UNAVAILABLE``,
        ``DAILY_LIMIT`` otherwise).

        With ``fsync``, a ``WAITAOF`` in the same batch follows the write; returns whether the
        write is confirmed on disk (True without it: the server's own policy applies).
        """
        sid = message.session
        script_keys = (
            keys.counts(sid, message.count_day),
            keys.session(sid),
            keys.message(message.id),
            keys.queue(sid),
            keys.QUEUES,
            keys.SCHEDULED,
        )
        if tiers is not self._tiers:  # the tier store hands out the same tuple while it is current
            self._tiers, self._limits = tiers, _limits(tiers)
        # all strings: hiredis packs a float argument at twice the cost (repr is what it sends)
        args = (
            message.id,
            message.session,
            self._limits,
            "1" if due else "0",
            repr(message.send_at),
            repr(now),
            message.to,
            message.text,
            repr(message.created),
            message.count_day,
            message.kind,
        )
        result, durable = await self._accept_batched(script_keys, args, fsync)
        if isinstance(result, NoScriptError):
            await self.redis.script_load(_ACCEPT)
            result, durable = await self._accept_batched(script_keys, args, fsync)
        if isinstance(result, aioredis.ResponseError):
            raise _accept_error(result, message.session)
        return durable

    async def _accept_batched(
        self, script_keys: tuple[str, ...], args: tuple[object, ...], fsync: bool
    ) -> tuple[Any, bool]:
        command = ("EVALSHA", self._accept.sha, ACCEPT_KEY_COUNT, *script_keys, *args)
        if not fsync:
            return await self.batcher.execute(*command), True
        return await self.batcher.execute_durably(*command)

    async def get(self, message_id: str) -> Message:
        """One message (``MESSAGE_NOT_FOUND``)."""
        data = await self.redis.hgetall(keys.message(message_id))
        if not data:
            raise MessageNotFound(f"no message {message_id}")
        return from_redis_hash(Message, data)

    async def find(self, message_id: str) -> Message | None:
        """One message, or ``None``."""
        data = await self.redis.hgetall(keys.message(message_id))
        return from_redis_hash(Message, data) if data else None

    async def inflight(self, session_id: str) -> list[str]:
        """Ids of messages whose send was started and not yet settled."""
        return as_strs(await self.redis.lrange(keys.inflight(session_id), 0, -1))

    async def start(self, session_id: str, message_id: str, now: float) -> int:
        """Move a waiting message (the head, or one the dispatcher chose past held ones) into flight; returns
        its attempt number (0 if it is no longer waiting).

        ``Fenced`` if another core has taken over since this one took the lease."""
        script_keys = [keys.queue(session_id), keys.inflight(session_id), keys.message(message_id)]
        return as_int(await self._lease.fenced(self._start, script_keys, [message_id, now]))

    async def finish(
        self,
        session_id: str,
        message_id: str,
        now: float,
        outcome: MessageStatus,
        today: str,
        *,
        error: str = "",
        wa_id: str = "",
        next_gap: float = 0.0,
    ) -> bool:
        """Settle a message as sent / failed / dead / unknown (False if it was already settled)."""
        args = [
            session_id,
            message_id,
            now,
            outcome.value,
            shorten(error, 300),
            wa_id,
            next_gap,
            *self.retention.finish_args(),
            keys.counts(session_id, SLOT),
            keys.contact(SLOT),
            keys.recipient_sends(session_id, SLOT),
        ]
        return bool(await self._finish(keys=_finish_keys(session_id, message_id, today), args=args))

    async def finish_check(
        self, session_id: str, message_id: str, now: float, on_whatsapp: bool, today: str, next_gap: float
    ) -> bool:
        """Settle a number check with its answer (False if it was already settled)."""
        script_keys = _finish_keys(session_id, message_id, today)[:6]
        args: list[EncodableT] = [
            message_id,
            now,
            int(on_whatsapp),
            next_gap,
            self.retention.message_s,
            keys.counts(session_id, SLOT),
        ]
        return bool(await self._finish_check(keys=script_keys, args=args))

    async def retry(self, session_id: str, message_id: str, error: str, retry_at: float) -> bool:
        """Put an in-flight message back at the head of its queue, to be tried again at ``retry_at``."""
        script_keys = [keys.inflight(session_id), keys.queue(session_id), keys.message(message_id)]
        return bool(await self._retry(keys=script_keys, args=[message_id, shorten(error, 300), retry_at]))

    async def promote_due(self, now: float) -> list[str]:
        """Move due scheduled messages into their queues; returns the sessions to wake."""
        templates = [keys.message(SLOT), keys.session(SLOT), keys.queue(SLOT)]
        args: list[EncodableT] = [now, self.retention.message_s, *templates]
        return as_strs(await self._promote(keys=[keys.SCHEDULED, keys.QUEUES], args=args))

    async def depth(self, session_id: str) -> int:
        """Messages waiting in a session's queue."""
        return int(await self.redis.llen(keys.queue(session_id)))

    async def peek(self, session_id: str, count: int = 10) -> list[Message]:
        """The first ``count`` waiting messages."""
        ids = as_strs(await self.redis.lrange(keys.queue(session_id), 0, count - 1))
        return [m for m in [await self.find(i) for i in ids] if m is not None]

    async def counts(self, session_id: str, day: str) -> dict[str, int]:
        """Per-day counters: queued, sent, failed, unknown, new_contacts, checks (number checks answered)."""
        raw = await self.redis.hgetall(keys.counts(session_id, day))
        names = ("queued", "sent", "failed", "unknown", "new_contacts", "checks")
        return {name: int(raw.get(name, 0)) for name in names}

    async def done_since(self, session_id: str, since: float) -> list[float]:
        """Completion times of sends since ``since``, oldest first."""
        rows = await self.redis.zrangebyscore(keys.done(session_id), since, "+inf", withscores=True)
        return [score for _, score in as_scored(rows)]

    async def pacing_facts(self, session_id: str, now: float, day: str, to: str) -> PacingFacts:
        """What pacing needs at ``now`` of a session's past sends (those of the last minute, of local ``day``),
        and of those to ``to`` (of the last 24 hours), in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(keys.pace(session_id), "last_done", "gap")
            pipe.zrangebyscore(keys.done(session_id), now - WINDOW_S, "+inf", withscores=True)
            pipe.hmget(keys.counts(session_id, day), "sent", "new_contacts", "checks")
            pipe.zscore(keys.contacted(session_id), to)
            pipe.zrangebyscore(keys.recipient_sends(session_id, to), now - DAY_S, "+inf", withscores=True)
            pace, done, counts, contact, to_recipient = await pipe.execute()
        return PacingFacts(
            float(pace[0] or 0),
            float(pace[1] or 0),
            [score for _, score in done],
            int(counts[0] or 0) + int(counts[2] or 0),  # number checks count against the day like sends
            int(counts[1] or 0),
            contact is not None,
            [score for _, score in to_recipient],
        )

    async def queue_state(self, session_id: str) -> tuple[dict[str, str], list[str], str | None]:
        """``(session hash, in-flight ids, head id)`` of a session in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.session(session_id))
            pipe.lrange(keys.inflight(session_id), 0, -1)
            pipe.lindex(keys.queue(session_id), 0)
            session, inflight, head = await pipe.execute()
        return session, inflight, head

    async def set_gap(self, session_id: str, gap: float) -> None:
        """Replace the drawn gap (after a live tier change)."""
        await self.redis.hset(keys.pace(session_id), "gap", gap)

    async def sessions_with_work(self) -> list[str]:
        """Sessions that have (or had) queued or in-flight messages."""
        return sorted(as_strs(await self.redis.smembers(keys.QUEUES)))

    async def last_sender(self, to: str) -> str | None:
        """The session that last talked to ``to``."""
        return as_optional_str(await self.redis.get(keys.contact(to)))

    async def contact_of(self, session_ids: list[str], to: str) -> set[str]:
        """Those of the sessions for which ``to`` is a contact (each one round trip together)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for session_id in session_ids:
                pipe.zscore(keys.contacted(session_id), to)
            scores = await pipe.execute()
        return {session_id for session_id, score in zip(session_ids, scores, strict=True) if score is not None}

    async def forget_session(self, session_id: str, now: float) -> None:
        """Remove every key a deleted session's sends left behind; its waiting and scheduled messages
        fail (``session deleted``) and expire like every finished message."""
        script_keys = [
            keys.queue(session_id),
            keys.inflight(session_id),
            keys.contacted(session_id),
            keys.contacts_uncapped(session_id),
            keys.done(session_id),
            keys.pace(session_id),
            keys.QUEUES,
        ]
        args: list[EncodableT] = [session_id, now, self.retention.message_s, keys.message(SLOT), keys.contact(SLOT)]
        await self._forget(keys=script_keys, args=args)
        if scheduled := await self._scheduled_on(session_id):
            await self._fail_scheduled(
                keys=[keys.SCHEDULED, *map(keys.message, scheduled)], args=[now, self.retention.message_s, *scheduled]
            )
        patterns = (keys.counts(session_id, "*"), keys.recipient_sends(session_id, "*"))
        left = [key for pattern in patterns async for key in self.redis.scan_iter(match=pattern, count=SCAN_BATCH)]
        await self.redis.delete(keys.awaiting_reply(session_id), *left)

    async def _scheduled_on(self, session_id: str) -> list[str]:
        """Ids of the scheduled messages of a session (the outbox is shared by all sessions)."""
        ids = [message_id async for message_id, _ in self.redis.zscan_iter(keys.SCHEDULED, count=SCAN_BATCH)]
        async with self.redis.pipeline(transaction=False) as pipe:
            for message_id in ids:
                pipe.hget(keys.message(message_id), "session")
            owners = await pipe.execute()
        return [message_id for message_id, owner in zip(ids, owners, strict=True) if owner == session_id]
