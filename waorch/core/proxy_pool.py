"""The proxy pool and the sticky phone→proxy rules, kept atomic with Lua scripts in Redis.

Rules (the seed's sticky diagram): a phone always gets its proxy back; a proxy carries at most
``max_per_proxy`` sessions; a new phone gets the least-loaded healthy proxy; a proxy that fails
is BAD for a cool-down, then usable again, and its sessions move. Every decision that reads
load and then writes it happens inside one script, so concurrent provisions never over-fill.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.typing import EncodableT

from waorch.clock import Clock
from waorch.core import keys
from waorch.core.keys import LUA_KEY, SLOT
from waorch.core.redis_hashes import from_redis_hash
from waorch.core.redis_replies import as_str, as_strs
from waorch.errors import NoProxyCapacity, PhoneLimit, ProxyExists, ProxyInUse, ProxyNotFound, WaorchError
from waorch.proxy_url import ProxyURL, parse_proxy_url
from waorch.shorten import shorten

log = logging.getLogger("waorch.proxy_pool")

# Every pool script: KEYS[1] the pool, KEYS[2] the sessions index, KEYS[3] the session counter, then
# the script's own keys; ARGV: now (ms), max sessions per proxy, the key templates of a proxy, of
# its sessions, of a phone's sticky proxy, of a phone's sessions and of a session (``TEMPLATES``),
# then the script's own arguments from ARGV[A + 1] on.
_LIB = (
    LUA_KEY
    + """
local now, max = tonumber(ARGV[1]), tonumber(ARGV[2])
local PROXY, PROXY_SESSIONS, PHONE_PROXY, PHONE_SESSIONS, SESSION = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local A = 7
local POOL, SESSIONS, COUNTER = KEYS[1], KEYS[2], KEYS[3]
local function usable(pid)
  local h = redis.call('HMGET', key(PROXY, pid), 'status', 'bad_until')
  if not h[1] then return false end
  return h[1] ~= 'bad' or tonumber(h[2] or '0') <= now
end
local function load(pid) return redis.call('SCARD', key(PROXY_SESSIONS, pid)) end
local function pick(exclude)
  local best, bestload = nil, nil
  for _, pid in ipairs(redis.call('ZRANGE', POOL, 0, -1)) do
    if pid ~= exclude and usable(pid) then
      local l = load(pid)
      if l < max and (bestload == nil or l < bestload) then best, bestload = pid, l end
    end
  end
  return best
end
local function choose(phone, explicit)
  if explicit ~= '' then
    if not usable(explicit) then return nil, 'PROXY_UNAVAILABLE' end
    if load(explicit) >= max then return nil, 'NO_PROXY_CAPACITY' end
    return explicit
  end
  if phone ~= '' then
    local sticky = redis.call('GET', key(PHONE_PROXY, phone))
    if sticky and usable(sticky) then
      if load(sticky) >= max then return nil, 'STICKY_FULL' end
      return sticky
    end
  end
  if redis.call('ZCARD', POOL) == 0 then return '' end
  local best = pick('')
  if not best then return nil, 'NO_PROXY_CAPACITY' end
  return best
end
"""
)

# ARGV from A + 1: phone, explicit proxy id, max per phone, then field/value pairs
_PROVISION = (
    _LIB
    + """
local phone, explicit, max_phone = ARGV[A + 1], ARGV[A + 2], tonumber(ARGV[A + 3])
if phone ~= '' and redis.call('SCARD', key(PHONE_SESSIONS, phone)) >= max_phone then
  return {err = 'PHONE_LIMIT'}
end
local pid, problem = choose(phone, explicit)
if not pid then return {err = problem} end
local n = redis.call('INCR', COUNTER)
local sid = 'worker_'..n
local fields = {}
for i = A + 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', key(SESSION, sid), 'id', sid, 'proxy', pid, 'phone', phone, unpack(fields))
redis.call('ZADD', SESSIONS, n, sid)
if pid ~= '' then redis.call('SADD', key(PROXY_SESSIONS, pid), sid) end
if phone ~= '' then
  redis.call('SADD', key(PHONE_SESSIONS, phone), sid)
  if pid ~= '' then redis.call('SET', key(PHONE_PROXY, phone), pid) end
end
return {sid, pid}
"""
)

# KEYS[4]: the session. ARGV from A + 1: session id
_MOVE = (
    _LIB
    + """
local sid, session = ARGV[A + 1], KEYS[4]
local old = redis.call('HGET', session, 'proxy')
if not old then return {err = 'SESSION_NOT_FOUND'} end
local new = pick(old)
if not new then return {err = 'NO_PROXY_CAPACITY'} end
if old ~= '' then redis.call('SREM', key(PROXY_SESSIONS, old), sid) end
redis.call('SADD', key(PROXY_SESSIONS, new), sid)
redis.call('HSET', session, 'proxy', new)
redis.call('HINCRBY', session, 'generation', 1)
local phone = redis.call('HGET', session, 'phone')
if phone and phone ~= '' then redis.call('SET', key(PHONE_PROXY, phone), new) end
return new
"""
)

# KEYS[4]: the session, KEYS[5]: the phone's sessions, KEYS[6]: the phone's sticky proxy.
# ARGV from A + 1: session id, phone, max per phone
_BIND_PHONE = (
    _LIB
    + """
local sid, phone, max_phone = ARGV[A + 1], ARGV[A + 2], tonumber(ARGV[A + 3])
local session, phone_sessions = KEYS[4], KEYS[5]
local old = redis.call('HGET', session, 'phone')
if redis.call('SISMEMBER', phone_sessions, sid) == 0 and redis.call('SCARD', phone_sessions) >= max_phone then
  return {err = 'PHONE_LIMIT'}
end
if old and old ~= '' and old ~= phone then redis.call('SREM', key(PHONE_SESSIONS, old), sid) end
redis.call('SADD', phone_sessions, sid)
redis.call('HSET', session, 'phone', phone)
local pid = redis.call('HGET', session, 'proxy')
if pid and pid ~= '' then redis.call('SET', KEYS[6], pid) end
return 1
"""
)

# KEYS from 4: every key named after the session, its hash first (``keys.session_keys``).
# ARGV from A + 1: session id
_RELEASE = (
    _LIB
    + """
local sid = ARGV[A + 1]
local h = redis.call('HMGET', KEYS[4], 'proxy', 'phone')
if h[1] and h[1] ~= '' then redis.call('SREM', key(PROXY_SESSIONS, h[1]), sid) end
if h[2] and h[2] ~= '' then redis.call('SREM', key(PHONE_SESSIONS, h[2]), sid) end
redis.call('ZREM', SESSIONS, sid)
return redis.call('DEL', unpack(KEYS, 4))
"""
)

# KEYS[4]: the proxy, KEYS[5]: its sessions. ARGV from A + 1: proxy id
_REMOVE = (
    _LIB
    + """
local pid = ARGV[A + 1]
if redis.call('EXISTS', KEYS[4]) == 0 then return {err = 'PROXY_NOT_FOUND'} end
if load(pid) > 0 then return {err = 'PROXY_IN_USE'} end
redis.call('DEL', KEYS[4], KEYS[5])
redis.call('ZREM', POOL, pid)
return 1
"""
)

# KEYS: the pool. ARGV: proxy id, now (ms). The pool keeps proxies in the order they were added
# (the first of equally loaded ones is chosen), also several added in one millisecond.
_APPEND = """
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2]
local score = math.max(tonumber(ARGV[2]), (tonumber(last) or 0) + 1)
return redis.call('ZADD', KEYS[1], 'NX', score, ARGV[1])
"""

# Each proxy gets its new id, with every reference to it: its place in the pool, its sessions,
# their ``proxy`` field, the phones stuck to it. A new id already in the pool (added while the core
# started) keeps its own hash and gets the old one's sessions.
# KEYS: the pool, the sessions index. ARGV: the key templates of a proxy, of its sessions and of a
# session, the pattern of phones' sticky proxies, then old id, new id, ...
_REKEY = (
    LUA_KEY
    + """
local POOL, PROXY, PROXY_SESSIONS, SESSION = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local renamed = {}
for i = 5, #ARGV, 2 do
  local old, new = ARGV[i], ARGV[i + 1]
  renamed[old] = new
  local score = redis.call('ZSCORE', POOL, old)
  redis.call('ZREM', POOL, old)
  if redis.call('EXISTS', key(PROXY, new)) == 0 then
    redis.call('RENAME', key(PROXY, old), key(PROXY, new))
    redis.call('ZADD', POOL, score, new)
  else
    redis.call('DEL', key(PROXY, old))
  end
  local sessions = key(PROXY_SESSIONS, new)
  redis.call('SUNIONSTORE', sessions, sessions, key(PROXY_SESSIONS, old))
  redis.call('DEL', key(PROXY_SESSIONS, old))
end
for _, sid in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local new = renamed[redis.call('HGET', key(SESSION, sid), 'proxy') or '']
  if new then redis.call('HSET', key(SESSION, sid), 'proxy', new) end
end
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[4], 'COUNT', 1000)
  cursor = page[1]
  for _, sticky in ipairs(page[2]) do
    local new = renamed[redis.call('GET', sticky) or '']
    if new then redis.call('SET', sticky, new) end
  end
until cursor == '0'
return (#ARGV - 4) / 2
"""
)
# The key templates every pool script takes after now and max (see ``_LIB``).
TEMPLATES = (
    keys.proxy(SLOT),
    keys.proxy_sessions(SLOT),
    keys.phone_proxy(SLOT),
    keys.phone_sessions(SLOT),
    keys.session(SLOT),
)

_ERRORS: dict[str, type[WaorchError]] = {
    "NO_PROXY_CAPACITY": NoProxyCapacity,
    "PHONE_LIMIT": PhoneLimit,
    "PROXY_NOT_FOUND": ProxyNotFound,
    "PROXY_IN_USE": ProxyInUse,
}

_MESSAGES = {
    "NO_PROXY_CAPACITY": "every usable proxy already carries the maximum number of sessions",
    "STICKY_FULL": "this phone's sticky proxy already carries the maximum number of sessions",
    "PROXY_UNAVAILABLE": "that proxy is marked BAD and still cooling down",
    "PHONE_LIMIT": "this phone already has the maximum number of linked sessions",
    "PROXY_NOT_FOUND": "no proxy with that id",
    "PROXY_IN_USE": "the proxy still carries sessions; delete or move them first",
    "SESSION_NOT_FOUND": "no session with that id",
}


def _translate(error: aioredis.ResponseError, session_id: str | None = None) -> WaorchError:
    code = str(error).split()[0]
    cls = _ERRORS.get(code, NoProxyCapacity if code in ("STICKY_FULL", "PROXY_UNAVAILABLE") else WaorchError)
    return cls(_MESSAGES.get(code, str(error)), session_id=session_id)


@dataclass(frozen=True)
class ProxyInfo:
    """A proxy as the API and the TUI show it (never with its password)."""

    id: str
    url: str
    endpoint: str
    status: str
    bad_until_ms: int
    reason: str
    source: str
    sessions: tuple[str, ...]
    phones: tuple[str, ...]
    max_sessions: int
    recheck_due: bool = False


@dataclass(frozen=True)
class StoredProxy:
    """A proxy's hash as stored (times in unix milliseconds: cool-downs are absolute times)."""

    url: str
    status: str = "ok"
    bad_until: int = 0
    reason: str = ""
    source: str = "api"
    added: int = 0


class ProxyPool:
    """Proxies in Redis with their load, health and sticky phones."""

    def __init__(
        self, redis: aioredis.Redis, clock: Clock, max_per_proxy: int, max_per_phone: int, cooldown_ms: int, id_key: str
    ) -> None:
        self.redis = redis
        self.clock = clock
        self._id_key = id_key.encode()
        self.max_per_proxy = max_per_proxy
        self.max_per_phone = max_per_phone
        self.cooldown_ms = cooldown_ms
        self._scripts = {
            name: redis.register_script(source)
            for name, source in (
                ("provision", _PROVISION),
                ("move", _MOVE),
                ("bind", _BIND_PHONE),
                ("release", _RELEASE),
                ("remove", _REMOVE),
                ("rekey", _REKEY),
                ("append", _APPEND),
            )
        }

    def id_of(self, proxy: ProxyURL) -> str:
        """The pool id of ``proxy``: same URL, same id. Keyed (``signing.proxy_id_key``), so the id
        and the masked URL shown together cannot be used to test guessed passwords offline."""
        return "px_" + hmac.new(self._id_key, proxy.url.encode(), hashlib.sha256).hexdigest()[:16]

    def now_ms(self) -> int:
        """The clock's time in milliseconds (proxy cool-downs are stored as absolute times)."""
        return int(self.clock.now() * 1000)

    async def _run(self, name: str, script_keys: list[str], *args: EncodableT, session_id: str | None = None) -> object:
        """Run a pool script (``_LIB``) with the keys and arguments every one of them takes first."""
        every = [keys.PROXIES, keys.SESSIONS, keys.SESSION_COUNTER]
        try:
            return await self._scripts[name](
                keys=every + script_keys, args=[self.now_ms(), self.max_per_proxy, *TEMPLATES, *args]
            )
        except aioredis.ResponseError as error:
            raise _translate(error, session_id) from None

    async def add(self, proxy: ProxyURL, source: str = "api", *, exist_ok: bool = False) -> ProxyInfo:
        """Put a proxy in the pool (``PROXY_EXISTS`` if it is there, unless ``exist_ok``)."""
        proxy_id = self.id_of(proxy)
        added = await self.redis.hsetnx(keys.proxy(proxy_id), "url", proxy.url)
        if not added and not exist_ok:
            raise ProxyExists(f"proxy {proxy.redacted} is already in the pool as {proxy_id}")
        if added:
            fields: dict[EncodableT, EncodableT] = {"status": "ok", "source": source, "added": self.now_ms()}
            await self.redis.hset(keys.proxy(proxy_id), mapping=fields)
            await self._scripts["append"](keys=[keys.PROXIES], args=[proxy_id, self.now_ms()])
        return await self.get(proxy_id)

    async def rekey(self) -> int:
        """Give every proxy the id ``id_of`` gives its URL: ids written by an older version (an
        unkeyed hash) or under another ``WEBHOOK_SECRET`` are renamed with every reference to them.
        Returns how many were renamed."""
        renames: list[str] = []
        for proxy_id in as_strs(await self.redis.zrange(keys.PROXIES, 0, -1)):
            new_id = await self._id_of_stored(proxy_id)
            if new_id not in (None, proxy_id):
                renames += [proxy_id, new_id]
        if renames:
            templates = [keys.proxy(SLOT), keys.proxy_sessions(SLOT), keys.session(SLOT), keys.phone_proxy("*")]
            await self._scripts["rekey"](keys=[keys.PROXIES, keys.SESSIONS], args=templates + renames)
            log.info("proxy pool: %d proxy id(s) renamed to keyed ids", len(renames) // 2)
        return len(renames) // 2

    async def _id_of_stored(self, proxy_id: str) -> str | None:
        raw = await self.redis.hget(keys.proxy(proxy_id), "url")
        try:
            return self.id_of(parse_proxy_url(raw)) if raw is not None else None
        except WaorchError:
            return None  # a URL this version no longer accepts keeps its id

    async def remove(self, proxy_id: str) -> None:
        """Remove an idle proxy (``PROXY_IN_USE`` while it carries sessions)."""
        await self._run("remove", [keys.proxy(proxy_id), keys.proxy_sessions(proxy_id)], proxy_id)

    async def url_of(self, proxy_id: str) -> ProxyURL | None:
        """The full proxy URL of a pool id (``None`` for "no proxy")."""
        if not proxy_id:
            return None
        raw = await self.redis.hget(keys.proxy(proxy_id), "url")
        if raw is None:
            raise ProxyNotFound(f"no proxy {proxy_id}")
        return parse_proxy_url(raw)

    async def get(self, proxy_id: str) -> ProxyInfo:
        """One proxy with its load and sticky phones."""
        fields = await self.redis.hgetall(keys.proxy(proxy_id))
        if not fields:
            raise ProxyNotFound(f"no proxy {proxy_id}")
        sessions = sorted(as_strs(await self.redis.smembers(keys.proxy_sessions(proxy_id))), key=_session_order)
        stored = from_redis_hash(StoredProxy, fields)
        return self._info(proxy_id, stored, tuple(sessions), await self._phones_of(sessions))

    async def _phones_of(self, sessions: list[str]) -> tuple[str, ...]:
        if not sessions:
            return ()
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid in sessions:
                pipe.hget(keys.session(sid), "phone")
            phones = await pipe.execute()
        return tuple(sorted({p for p in phones if p}))

    def _info(
        self, proxy_id: str, stored: StoredProxy, sessions: tuple[str, ...], phones: tuple[str, ...]
    ) -> ProxyInfo:
        marked = stored.status == "bad"
        bad = marked and stored.bad_until > self.now_ms()
        proxy = parse_proxy_url(stored.url)
        return ProxyInfo(
            id=proxy_id,
            url=proxy.redacted,
            endpoint=proxy.endpoint,
            status="bad" if bad else "ok",
            bad_until_ms=stored.bad_until if bad else 0,
            reason=stored.reason if bad else "",
            source=stored.source,
            sessions=sessions,
            phones=phones,
            max_sessions=self.max_per_proxy,
            recheck_due=marked and not bad,
        )

    async def list(self) -> list[ProxyInfo]:
        """Every proxy in the order it was added."""
        return [await self.get(pid) for pid in as_strs(await self.redis.zrange(keys.PROXIES, 0, -1))]

    async def provision(self, fields: dict[str, str], phone: str | None, proxy_id: str | None) -> tuple[str, str]:
        """Atomically choose a proxy and create a session; returns ``(session_id, proxy_id)``."""
        flat = [item for pair in fields.items() for item in pair]
        sid, pid = as_strs(await self._run("provision", [], phone or "", proxy_id or "", self.max_per_phone, *flat))
        return sid, pid

    async def move(self, session_id: str) -> str:
        """Move a session to the least-loaded other healthy proxy; returns the new proxy id.

        The session's generation is bumped, so late events of the worker on the old proxy are ignored.
        """
        return as_str(await self._run("move", [keys.session(session_id)], session_id, session_id=session_id))

    async def bind_phone(self, session_id: str, phone: str) -> None:
        """Record that ``session_id`` is ``phone``'s device; its proxy becomes the phone's sticky one."""
        script_keys = [keys.session(session_id), keys.phone_sessions(phone), keys.phone_proxy(phone)]
        await self._run("bind", script_keys, session_id, phone, self.max_per_phone, session_id=session_id)

    async def release(self, session_id: str) -> None:
        """Forget a session: its proxy slot and phone slot are freed."""
        await self._run("release", keys.session_keys(session_id), session_id, session_id=session_id)

    async def mark_bad(self, proxy_id: str, reason: str) -> None:
        """Mark a proxy BAD for the cool-down (it becomes usable again afterwards)."""
        await self.redis.hset(
            keys.proxy(proxy_id),
            mapping={
                "status": "bad",
                "bad_until": self.now_ms() + self.cooldown_ms,
                "reason": shorten(reason, 200),
            },
        )

    async def mark_ok(self, proxy_id: str) -> None:
        """Clear a proxy's BAD mark (after a successful re-check)."""
        await self.redis.hset(keys.proxy(proxy_id), mapping={"status": "ok", "bad_until": 0, "reason": ""})


def _session_order(session_id: str) -> int:
    return int(session_id.rpartition("_")[2] or 0)
