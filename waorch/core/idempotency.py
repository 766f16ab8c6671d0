"""Idempotency keys: the same key and body get the first answer again, never a second message.

A key is claimed atomically while its request is handled (a concurrent twin gets 409), then
holds the answer for ``TTL_S`` (at least 24 h). The same key with another body is a 422.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import redis.asyncio as aioredis

from waorch.core import keys
from waorch.errors import BadRequest, IdempotencyInProgress, IdempotencyMismatch

TTL_S = 48 * 3600
CLAIM_TTL_S = 120

_BEGIN = """
local current = redis.call('HMGET', KEYS[1], 'state', 'fingerprint', 'answer')
if not current[1] then
  redis.call('HSET', KEYS[1], 'state', 'pending', 'fingerprint', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return {'claimed'}
end
if current[2] ~= ARGV[1] then return {'mismatch'} end
if current[1] == 'pending' then return {'pending'} end
return {'done', current[3]}
"""


def fingerprint(body: dict[str, Any]) -> str:
    """Hash of a request body, independent of key order and spacing."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    """Validate an ``Idempotency-Key`` header value."""
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise BadRequest("Idempotency-Key must be 1-255 printable characters", code="INVALID_IDEMPOTENCY_KEY")
    return key


class IdempotencyStore:
    """Keys and their answers in Redis."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._begin = redis.register_script(_BEGIN)

    async def begin(self, key: str, print_: str) -> dict[str, Any] | None:
        """Claim ``key``; or return the stored answer of a finished twin (409 / 422 otherwise)."""
        result = await self._begin(keys=[keys.idempotency(key)], args=[print_, CLAIM_TTL_S])
        if result[0] == "mismatch":
            raise IdempotencyMismatch("this Idempotency-Key was used with a different body")
        if result[0] == "pending":
            raise IdempotencyInProgress("a request with this Idempotency-Key is still being handled")
        return json.loads(result[1]) if result[0] == "done" else None

    async def finish(self, key: str, answer: dict[str, Any]) -> None:
        """Store the answer for later twins."""
        name = keys.idempotency(key)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(name, mapping={"state": "done", "answer": json.dumps(answer)})
            pipe.expire(name, TTL_S)
            await pipe.execute()

    async def abandon(self, key: str) -> None:
        """Release a claim whose request failed (the key can be used again)."""
        await self.redis.delete(keys.idempotency(key))
