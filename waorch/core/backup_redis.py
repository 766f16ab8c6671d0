"""The orchestrator's state in Redis as plain JSON, read in one step and written back.

A backup keeps every ``waorch:`` key but those ``keys.BACKUP_SKIPPED_*`` name (the running core's
lease, the activity log, alerts, replay guards, queued worker starts). They are read by one Lua script,
so the snapshot is one instant of the fleet: a message is in its queue or in flight, never both or
neither. The form is explicit JSON (type, value, absolute expiry), not ``DUMP`` payloads: those are tied
to the server's RDB version, and a fresh machine may run another server (Valkey 8.1 here, Redis 7.0
there); JSON restores on any of them and can be read by a person.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from waorch.core import keys
from waorch.errors import BackupCorrupt

# Reads every key of the fleet with its type, time to live (ms, -1: none) and value; ARGV: the match
# pattern, the number of skipped prefixes, those prefixes, then the skipped suffixes.
SNAPSHOT = """
local prefixes, suffixes = {}, {}
local count = tonumber(ARGV[2])
for i = 3, #ARGV do
  if i < 3 + count then table.insert(prefixes, ARGV[i]) else table.insert(suffixes, ARGV[i]) end
end
local function skipped(key)
  for _, p in ipairs(prefixes) do if string.sub(key, 1, #p) == p then return true end end
  for _, s in ipairs(suffixes) do if string.sub(key, -#s) == s then return true end end
  return false
end
local readers = {
  string = function(key) return {redis.call('GET', key)} end,
  hash = function(key) return redis.call('HGETALL', key) end,
  list = function(key) return redis.call('LRANGE', key, 0, -1) end,
  set = function(key) return redis.call('SMEMBERS', key) end,
  zset = function(key) return redis.call('ZRANGE', key, 0, -1, 'WITHSCORES') end,
}
local out, cursor = {}, '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    local kind = redis.call('TYPE', key)['ok']
    if readers[kind] and not skipped(key) then
      table.insert(out, {key, kind, redis.call('PTTL', key), readers[kind](key)})
    end
  end
until cursor == '0'
return out
"""
TYPES = ("string", "hash", "list", "set", "zset")


@dataclass(frozen=True)
class StoredKey:
    """One key as a backup keeps it: ``value`` a string, a dict, a list, or a list of ``[member, score]``."""

    key: str
    type: str
    value: Any
    expire_at_ms: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The key as a JSON object of ``redis.json``."""
        return {"key": self.key, "type": self.type, "expireAt": self.expire_at_ms, "value": self.value}


async def snapshot(redis: aioredis.Redis, now_ms: int) -> list[StoredKey]:
    """Every key a backup keeps, read at one instant (expiries made absolute with ``now_ms``)."""
    skipped = (*keys.BACKUP_SKIPPED_PREFIXES, *keys.BACKUP_SKIPPED_SUFFIXES)
    rows = await redis.eval(SNAPSHOT, 0, f"{keys.PREFIX}*", len(keys.BACKUP_SKIPPED_PREFIXES), *skipped)
    unique = {str(row[0]): row for row in rows}  # SCAN may name a key twice
    return [_stored(key, str(kind), int(ttl), raw, now_ms) for key, (_, kind, ttl, raw) in sorted(unique.items())]


def _stored(key: str, kind: str, ttl: int, raw: list[str], now_ms: int) -> StoredKey:
    return StoredKey(key, kind, SHAPES[kind](raw), now_ms + ttl if ttl >= 0 else None)


def _pairs(raw: list[str]) -> list[tuple[str, str]]:
    return list(zip(raw[::2], raw[1::2], strict=True))


SHAPES: dict[str, Callable[[list[str]], Any]] = {
    "string": lambda raw: raw[0],
    "hash": lambda raw: dict(_pairs(raw)),
    "list": list,
    "set": sorted,
    "zset": lambda raw: [[member, float(score)] for member, score in _pairs(raw)],
}


def parse_keys(document: Any) -> list[StoredKey]:
    """The keys of a ``redis.json`` document (``BACKUP_CORRUPT`` for anything waorch would not have written)."""
    if not isinstance(document, list):
        raise BackupCorrupt("redis.json is not a list of keys")
    return [_parse_key(entry) for entry in document]


def _parse_key(entry: Any) -> StoredKey:
    if not isinstance(entry, dict) or entry.keys() != {"key", "type", "expireAt", "value"}:
        raise BackupCorrupt("redis.json holds an entry that is not a key")
    key, kind, expire_at, value = entry["key"], entry["type"], entry["expireAt"], entry["value"]
    if not isinstance(key, str) or not key.startswith(keys.PREFIX) or not kept(key) or kind not in TYPES:
        raise BackupCorrupt(f"redis.json holds a key waorch does not write: {str(key)[:80]!r}")
    if not (expire_at is None or (isinstance(expire_at, int) and not isinstance(expire_at, bool))):
        raise BackupCorrupt(f"redis.json: {key} has a bad expiry")
    if not VALID[kind](value):
        raise BackupCorrupt(f"redis.json: {key} does not hold a {kind}")
    return StoredKey(key, kind, value, expire_at)


def _strings(values: Iterable[Any]) -> bool:
    return all(isinstance(value, str) for value in values)


def _scored(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and _finite(value[1])


def _finite(score: Any) -> bool:
    return isinstance(score, int | float) and not isinstance(score, bool) and math.isfinite(score)


VALID: dict[str, Callable[[Any], bool]] = {
    "string": lambda value: isinstance(value, str),
    "hash": lambda value: isinstance(value, dict) and bool(value) and _strings(value.values()),
    "list": lambda value: isinstance(value, list) and bool(value) and _strings(value),
    "set": lambda value: isinstance(value, list) and bool(value) and _strings(value),
    "zset": lambda value: isinstance(value, list) and bool(value) and all(_scored(pair) for pair in value),
}


async def write_keys(redis: aioredis.Redis, stored: list[StoredKey], now_ms: int) -> int:
    """Write the keys back (each replacing what is there), skipping those whose expiry has passed; how many."""
    live = [key for key in stored if key.expire_at_ms is None or key.expire_at_ms > now_ms]
    for start in range(0, len(live), 500):
        async with redis.pipeline(transaction=True) as pipe:
            for key in live[start : start + 500]:
                _write(pipe, key)
            await pipe.execute()
    return len(live)


def _write(pipe: Any, key: StoredKey) -> None:
    pipe.delete(key.key)
    WRITERS[key.type](pipe, key.key, key.value)
    if key.expire_at_ms is not None:
        pipe.pexpireat(key.key, key.expire_at_ms)


WRITERS: dict[str, Callable[[Any, str, Any], Any]] = {
    "string": lambda pipe, key, value: pipe.set(key, value),
    "hash": lambda pipe, key, value: pipe.hset(key, mapping=value),
    "list": lambda pipe, key, value: pipe.rpush(key, *value),
    "set": lambda pipe, key, value: pipe.sadd(key, *value),
    "zset": lambda pipe, key, value: pipe.zadd(key, {member: score for member, score in value}),
}


async def fleet_keys(redis: aioredis.Redis) -> list[str]:
    """Every key a backup would keep as it is now (what a replacing restore deletes first)."""
    found = [str(key) async for key in redis.scan_iter(match=f"{keys.PREFIX}*", count=1000)]
    return sorted({key for key in found if kept(key)})


def kept(key: str) -> bool:
    """Whether a backup keeps ``key`` (the snapshot script decides the same from the same lists)."""
    return not key.startswith(keys.BACKUP_SKIPPED_PREFIXES) and not key.endswith(keys.BACKUP_SKIPPED_SUFFIXES)
