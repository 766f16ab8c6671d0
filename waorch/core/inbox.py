"""Incoming messages (``MESSAGE_RECEIVED``), kept per session in Redis: bounded, newest first.

Each session has a sorted set of messages scored by a per-session sequence number (the message's
``id``, the paging cursor) and a sorted set of the WhatsApp ids it holds, so a message a worker
delivers twice (a retried webhook) is stored once. When forwarding is on, the same script appends
the message to the session's outbox lane: a message is kept and queued for the receiver together,
or not at all. Both sets are deleted with the session. A text longer than ``TEXT_LIMIT``
characters is kept cut to that length, marked ``truncated`` (strangers decide how much they write).
"""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from waorch.clock import Clock
from waorch.core import keys
from waorch.core.messages import COUNT_TTL_S, Retention
from waorch.core.outbox import Outbox, dumps
from waorch.core.pacing import local_day
from waorch.core.redis_replies import as_strs
from waorch.core.tiers import DAY_S
from waorch.errors import BadRequest

MAX_WA_ID = 128
UTC = ZoneInfo("UTC")
TEXT_LIMIT = 4096  # characters of an incoming text that are kept (the limit of the texts we send)

# A sender who writes directly (not in a group) becomes one of the session's contacts (no longer a new contact
# for the caps, nor for a reach-out hold); one the session wrote to in the last 24 hours who had not written back
# since counts as a reply in today's counters (the health score).
# KEYS: session hash, inbox, inbox WhatsApp ids, the session's contacts, awaiting reply, today's counts[, outbox
# lane, due lanes].
# ARGV: waId, message JSON without its opening brace, limit, the direct sender or "", now, contacts kept[,
# envelope head, now ms, session id].
_ADD = """
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('ZSCORE', KEYS[3], ARGV[1]) then return false end
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[4], 'NX', ARGV[5], ARGV[4])
  redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -tonumber(ARGV[6]) - 1)
  local wrote = redis.call('ZSCORE', KEYS[5], ARGV[4])
  if wrote and tonumber(wrote) >= tonumber(ARGV[5]) - DAY then
    redis.call('ZREM', KEYS[5], ARGV[4])
    redis.call('HINCRBY', KEYS[6], 'replied', 1)
    redis.call('EXPIRE', KEYS[6], COUNT_TTL)
  end
end
local newest = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local id = (tonumber(newest[2]) or 0) + 1
local message = '{"id":' .. id .. ',' .. ARGV[2]
redis.call('ZADD', KEYS[2], id, message)
redis.call('ZADD', KEYS[3], id, ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[3]) - 1)
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -tonumber(ARGV[3]) - 1)
if #KEYS == 8 then
  redis.call('RPUSH', KEYS[7], ARGV[7] .. message .. '}')
  redis.call('ZADD', KEYS[8], 'NX', ARGV[8], ARGV[9])
end
return message
""".replace("COUNT_TTL", str(COUNT_TTL_S)).replace("DAY", str(DAY_S))


def _text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) and value else None


def parse_message(session_id: str, data: dict[str, Any], received_at: float) -> dict[str, Any]:
    """The stored fields of a ``MESSAGE_RECEIVED`` event's data (``BAD_REQUEST`` if malformed)."""
    sender, wa_id, text = _text(data, "from"), _text(data, "waId"), data.get("text")
    if sender is None or wa_id is None or len(wa_id) > MAX_WA_ID or not isinstance(text, str):
        raise BadRequest(
            "MESSAGE_RECEIVED needs from, waId (up to 128 characters) and text, as strings", session_id=session_id
        )
    sent = data.get("timestamp")
    timestamp = sent if isinstance(sent, (int, float)) and not isinstance(sent, bool) else received_at
    return {
        "sessionId": session_id,
        "from": sender,
        "chat": _text(data, "chat") or sender,
        "text": text[:TEXT_LIMIT],
        "truncated": len(text) > TEXT_LIMIT,
        "waId": wa_id,
        "timestamp": timestamp,
        "receivedAt": received_at,
    }


class Inbox:
    """Each session's last ``limit`` incoming messages, optionally queued for forwarding."""

    def __init__(
        self,
        redis: aioredis.Redis,
        clock: Clock,
        limit: int,
        outbox: Outbox | None = None,
        contacts_limit: int = Retention().contacts_per_session,
        zone: ZoneInfo = UTC,
    ) -> None:
        self.redis = redis
        self.zone = zone  # the local day of the counters
        self.clock = clock
        self.limit = limit
        self.outbox = outbox
        self.contacts_limit = contacts_limit
        self._add = redis.register_script(_ADD)

    async def add(self, session_id: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """Keep (and queue) a received message; ``None`` for a duplicate or a deleted session."""
        message = parse_message(session_id, data, self.clock.now())
        script_keys = [
            keys.session(session_id),
            keys.session_inbox(session_id),
            keys.session_inbox_ids(session_id),
            keys.contacted(session_id),
            keys.awaiting_reply(session_id),
            keys.counts(session_id, local_day(self.clock.now(), self.zone)),
        ]
        direct = message["from"] if message["chat"] == message["from"] and "@" not in message["from"] else ""
        args: list[str | int | float] = [
            message["waId"],
            dumps(message)[1:],
            self.limit,
            direct,
            message["receivedAt"],
            self.contacts_limit,
        ]
        if self.outbox is not None:
            lane_keys, lane_args = self.outbox.message_push(session_id)
            script_keys, args = script_keys + lane_keys, [*args, *lane_args]
        stored = await self._add(keys=script_keys, args=args)
        return json.loads(stored) if stored else None

    async def page(self, session_id: str, limit: int, before: int | None = None) -> list[dict[str, Any]]:
        """Up to ``limit`` messages, newest first, with an ``id`` below ``before`` if given."""
        top = f"({before}" if before is not None else "+inf"
        rows = await self.redis.zrevrangebyscore(keys.session_inbox(session_id), top, "-inf", start=0, num=limit)
        return [json.loads(row) for row in as_strs(rows)]
