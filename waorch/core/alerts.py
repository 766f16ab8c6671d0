"""Alerts: what a person should hear about while nobody watches, kept in Redis until Telegram has it.

An alert rides on an activity entry (``ActivityLog.add(..., alert=...)``): the entry is what the
control room's log pane shows; the alert is also stored here with its delivery state, for
``GET /api/alerts`` and for the sender (``core/telegram.py``). Raising one is a single script:

- With Telegram configured, an alert is ``queued``, unless one of the same subject (its kind and
  its session, or its proxy) was queued less than ``cooldown`` seconds ago: then it is
  ``summarised`` (counted in its subject) and, when the cool-down ends, one line saying how many
  more there were, and the last of them, is queued (a flapping session is not 100 messages).
- Past ``cap`` waiting alerts (Telegram unreachable for long) the oldest leave the queue
  (``summarised``) and the next message starts by saying how many were dropped.
- Without Telegram an alert is recorded as ``off``: listed, never sent.

Texts are scrubbed of every secret waorch knows (its keys, the configured proxies' credentials,
any URL's user and password) before they are stored anywhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import redis.asyncio as aioredis

from waorch.clock import Clock
from waorch.config import Settings
from waorch.core import keys
from waorch.core.redis_hashes import from_redis_hash
from waorch.proxy_url import ProxyURL
from waorch.shorten import shorten


class AlertKind(StrEnum):
    """What an alert is about."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    PROXY_FAILED = "proxy_failed"
    RESTARTED = "restarted"
    LOGGED_OUT = "logged_out"
    BANNED = "banned"
    TIME_LOCK = "time_lock"
    PARKED = "failed"
    MESSAGE_UNKNOWN = "message_unknown"
    MESSAGE_DEAD = "message_dead"
    POOL_NEARLY_FULL = "pool_nearly_full"
    POOL_EMPTY = "pool_empty"
    REDIS_FULL = "redis_full"
    BACKUP_FAILED = "backup_failed"
    SUMMARY = "summary"  # the daily summary (core/summary.py)
    JOB_FAILED = "job_failed"  # a daily job failed (core/jobs.py)
    BREAKER = "breaker"  # a session's failure breaker tripped (core/breaker.py)


EMOJI: dict[str, str] = {
    AlertKind.CONNECTED: "✅",
    AlertKind.DISCONNECTED: "⚠️",
    AlertKind.PROXY_FAILED: "🔄",
    AlertKind.RESTARTED: "🔁",
    AlertKind.LOGGED_OUT: "🔑",
    AlertKind.BANNED: "⛔",
    AlertKind.TIME_LOCK: "⏳",
    AlertKind.PARKED: "❌",
    AlertKind.MESSAGE_UNKNOWN: "❓",
    AlertKind.MESSAGE_DEAD: "💀",
    AlertKind.POOL_NEARLY_FULL: "📦",
    AlertKind.POOL_EMPTY: "🚫",
    AlertKind.REDIS_FULL: "🧱",
    AlertKind.BACKUP_FAILED: "💾",
    AlertKind.SUMMARY: "📊",
    AlertKind.JOB_FAILED: "🕒",
    AlertKind.BREAKER: "🛑",
}
QUEUED, SENT, FAILED, SUMMARISED, OFF = "queued", "sent", "failed", "summarised", "off"
DELIVERIES = (QUEUED, SENT, FAILED, SUMMARISED, OFF)
COOLDOWN_S = 300.0  # per subject: alerts within this after a queued one are counted, not sent one by one
KEEP = 1000  # alerts kept for the API (the newest)
QUEUE_CAP = 200  # alerts waiting to be sent; past it the oldest are dropped and counted
LINE_LIMIT = 400  # characters of one alert's line
URL_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^\s/@]+@", re.IGNORECASE)

_MARK = """
local function mark(id, delivery, now, err)
  local raw = redis.call('HGET', KEYS[2], id)
  if not raw then return end
  local alert = cjson.decode(raw)
  alert.delivery = delivery
  if delivery == 'sent' then alert.sent_at = now end
  if err ~= '' then alert.error = err end
  redis.call('HSET', KEYS[2], id, cjson.encode(alert))
end
"""
# Every alert script may write past maxmemory: "Redis is full" is one of the alerts, and what they
# write is small and bounded (the newest KEEP alerts, QUEUE_CAP waiting).
ALLOW_OOM = "#!lua flags=allow-oom\n"
# KEYS: counter, alerts, pending, subjects, dropped, the session's hash (the counter when none).
# ARGV: now, kind, level, session, subject, text, cool-down s, keep, cap, '1' if sent to Telegram.
_RAISE = (
    ALLOW_OOM
    + _MARK
    + """
local now, cooldown, keep, cap = tonumber(ARGV[1]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local id = redis.call('INCR', KEYS[1])
local phone = ''
if ARGV[4] ~= '' then phone = redis.call('HGET', KEYS[6], 'phone') or '' end
local delivery = 'off'
if ARGV[10] == '1' then
  local raw = redis.call('HGET', KEYS[4], ARGV[5])
  local state = raw and cjson.decode(raw)
  if state and tonumber(state.due) > now then
    delivery = 'summarised'
    state.held, state.last = state.held + 1, id
  else
    delivery = 'queued'
    state = {due = now + cooldown, held = 0, last = id, kind = ARGV[2], session = ARGV[4]}
    redis.call('ZADD', KEYS[3], id, id)
  end
  redis.call('HSET', KEYS[4], ARGV[5], cjson.encode(state))
end
redis.call('HSET', KEYS[2], id, cjson.encode({id = id, at = now, kind = ARGV[2], level = ARGV[3], session = ARGV[4],
                                              phone = phone, text = ARGV[6], delivery = delivery}))
redis.call('HDEL', KEYS[2], id - keep)
local over = redis.call('ZCARD', KEYS[3]) - cap
if over > 0 then
  for _, old in ipairs(redis.call('ZRANGE', KEYS[3], 0, over - 1)) do mark(old, 'summarised', now, '') end
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, over - 1)
  redis.call('INCRBY', KEYS[5], over)
end
return id
"""
)
# Subjects whose cool-down ended: one line for the alerts they held, queued (and a new cool-down), or forgotten.
# KEYS: counter, alerts, pending, subjects. ARGV: now, cool-down s, keep.
_RELEASE = (
    ALLOW_OOM
    + """
local now, cooldown, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local flat, queued = redis.call('HGETALL', KEYS[4]), 0
for i = 1, #flat, 2 do
  local state = cjson.decode(flat[i + 1])
  if tonumber(state.due) > now then
  elseif state.held == 0 then
    redis.call('HDEL', KEYS[4], flat[i])
  else
    local raw = redis.call('HGET', KEYS[2], state.last)
    local last = raw and cjson.decode(raw) or {text = '', phone = ''}
    local id = redis.call('INCR', KEYS[1])
    local text = state.held .. ' more like this within ' .. math.ceil(cooldown / 60) .. ' min; the last: ' .. last.text
    redis.call('HSET', KEYS[2], id, cjson.encode({id = id, at = now, kind = state.kind, level = 'warning',
                                                  session = state.session, phone = last.phone, text = text,
                                                  delivery = 'queued'}))
    redis.call('HDEL', KEYS[2], id - keep)
    redis.call('ZADD', KEYS[3], id, id)
    state.due, state.held, state.last = now + cooldown, 0, id
    redis.call('HSET', KEYS[4], flat[i], cjson.encode(state))
    queued = queued + 1
  end
end
return queued
"""
)
# KEYS: counter, alerts, pending, dropped. ARGV: delivery, now, error, dropped alerts now reported, ids...
_SETTLE = (
    ALLOW_OOM
    + _MARK
    + """
for i = 5, #ARGV do
  mark(ARGV[i], ARGV[1], ARGV[2], ARGV[3])
  redis.call('ZREM', KEYS[3], ARGV[i])
end
if tonumber(ARGV[4]) > 0 then redis.call('DECRBY', KEYS[4], ARGV[4]) end
return 1
"""
)


@dataclass(frozen=True)
class Alert:
    """One alert as stored: when (unix seconds), what, about which session (its phone as stored), its delivery."""

    id: int
    at: float = 0.0
    kind: str = ""
    level: str = ""
    session: str = ""
    phone: str = ""
    text: str = ""
    delivery: str = QUEUED
    sent_at: float = 0.0
    error: str = ""

    @property
    def line(self) -> str:
        """``❌ worker_3 +972501111111: failed: crash loop …`` (one line of a message)."""
        who = " ".join(part for part in (self.session, f"+{self.phone}" if self.phone else "") if part)
        return shorten(f"{EMOJI.get(self.kind, '•')} {who + ': ' if who else ''}{self.text}", LINE_LIMIT)


@dataclass(frozen=True)
class Batch:
    """The alerts of the next message, oldest first, and how many dropped ones it reports."""

    alerts: tuple[Alert, ...]
    dropped: int
    missing: tuple[str, ...] = ()  # pending ids whose alert is no longer kept (left with this batch)

    def __bool__(self) -> bool:
        return bool(self.alerts or self.dropped)

    @property
    def text(self) -> str:
        """The message: a line about dropped alerts first, then one line per alert."""
        lines = [alert.line for alert in self.alerts]
        if self.dropped:
            lines.insert(
                0,
                f"⚠️ {self.dropped} older alert(s) not sent: too many waited while Telegram was "
                "unreachable (GET /api/alerts lists them)",
            )
        return "\n".join(lines)

    @property
    def ids(self) -> list[str]:
        """Every pending id this batch settles."""
        return [str(alert.id) for alert in self.alerts] + list(self.missing)


def scrubber(words: Iterable[str | None], proxies: Iterable[ProxyURL]) -> Callable[[str], str]:
    """A function that writes ``words`` (secrets), the proxies' credentials and any URL's user and
    password as ``***``."""
    secrets = sorted({word for word in words if word}, key=len, reverse=True)
    known = tuple(proxies)

    def scrub(text: str) -> str:
        text = URL_CREDENTIALS.sub(r"\1***@", text)
        for proxy in known:
            text = proxy.scrub(text)
        for secret in secrets:
            text = text.replace(secret, "***")
        return text

    return scrub


def settings_scrubber(settings: Settings) -> Callable[[str], str]:
    """The scrubber of every secret ``settings`` hold."""
    words = (settings.api_key, settings.webhook_secret, settings.events_webhook_secret, settings.telegram_bot_token)
    return scrubber(words, settings.proxies)


def telegram_configured(settings: Settings) -> bool:
    """Whether alerts go to Telegram (a bot token and a chat)."""
    return bool(settings.telegram_bot_token and settings.telegram_chat_id)


class AlertStore:
    """Raises alerts, hands the sender its batches, settles them, lists them (in the clock's time)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        clock: Clock,
        *,
        telegram: bool,
        scrub: Callable[[str], str] = str,
        cooldown: float = COOLDOWN_S,
        keep: int = KEEP,
        cap: int = QUEUE_CAP,
    ) -> None:
        self.redis = redis
        self.clock = clock
        self.telegram = telegram
        self.scrub = scrub
        self.cooldown = cooldown
        self.keep = keep
        self.cap = cap
        self._scripts = {
            name: redis.register_script(source)
            for name, source in (("raise", _RAISE), ("release", _RELEASE), ("settle", _SETTLE))
        }

    async def raise_alert(self, kind: AlertKind, level: str, text: str, session_id: str = "", subject: str = "") -> int:
        """Store an alert (``text`` already scrubbed); its subject (deduplication) is its kind and
        ``subject``, else its session. Returns its id."""
        script_keys = [
            keys.ALERT_COUNTER,
            keys.ALERTS,
            keys.ALERTS_PENDING,
            keys.ALERT_SUBJECTS,
            keys.ALERTS_DROPPED,
            keys.session(session_id) if session_id else keys.ALERT_COUNTER,
        ]
        args = [
            self.clock.now(),
            kind.value,
            level,
            session_id,
            f"{kind.value}:{subject or session_id}",
            text,
            self.cooldown,
            self.keep,
            self.cap,
            int(self.telegram),
        ]
        return int(await self._scripts["raise"](keys=script_keys, args=args))

    async def release_cooled(self) -> int:
        """Queue one line for each subject whose cool-down ended with alerts held; how many were queued."""
        script_keys = [keys.ALERT_COUNTER, keys.ALERTS, keys.ALERTS_PENDING, keys.ALERT_SUBJECTS]
        return int(await self._scripts["release"](keys=script_keys, args=[self.clock.now(), self.cooldown, self.keep]))

    async def batch(self, count: int, chars: int) -> Batch:
        """The oldest waiting alerts, at most ``count`` of them in at most ``chars`` characters."""
        ids = [str(alert_id) for alert_id in await self.redis.zrange(keys.ALERTS_PENDING, 0, count - 1)]
        dropped = int(await self.redis.get(keys.ALERTS_DROPPED) or 0)
        found = dict(zip(ids, await self._read(ids), strict=True))
        missing = tuple(alert_id for alert_id, alert in found.items() if alert is None)
        room = chars - (200 if dropped else 0)  # the line about dropped alerts
        return Batch(_fitting([alert for alert in found.values() if alert], room), dropped, missing)

    async def _read(self, ids: Sequence[str | int]) -> list[Alert | None]:
        """The alerts of ``ids`` (``None`` where one is no longer kept)."""
        rows = await self.redis.hmget(keys.ALERTS, list(ids)) if ids else []
        return [_alert(str(row)) if row else None for row in rows]

    async def settle(self, batch: Batch, delivery: str, error: str = "") -> None:
        """The batch was sent (or refused for good: ``FAILED`` with why): it leaves the queue."""
        script_keys = [keys.ALERT_COUNTER, keys.ALERTS, keys.ALERTS_PENDING, keys.ALERTS_DROPPED]
        await self._scripts["settle"](
            keys=script_keys, args=[delivery, self.clock.now(), error, batch.dropped, *batch.ids]
        )

    async def recent(self, limit: int) -> list[Alert]:
        """The newest ``limit`` alerts, newest first."""
        newest = int(await self.redis.get(keys.ALERT_COUNTER) or 0)
        return [alert for alert in await self._read(range(newest, max(0, newest - limit), -1)) if alert]

    async def pending(self) -> int:
        """How many alerts wait to be sent."""
        return int(await self.redis.zcard(keys.ALERTS_PENDING))


def _fitting(alerts: list[Alert], chars: int) -> tuple[Alert, ...]:
    """The first of ``alerts`` whose lines fit in ``chars`` characters (at least one)."""
    size = 0
    for count, alert in enumerate(alerts):
        size += len(alert.line) + 1
        if size > chars and count:
            return tuple(alerts[:count])
    return tuple(alerts)


def _alert(row: str) -> Alert | None:
    """An alert from its stored JSON (``None`` if it cannot be read)."""
    try:
        return from_redis_hash(Alert, json.loads(row))
    except (ValueError, TypeError):
        return None
