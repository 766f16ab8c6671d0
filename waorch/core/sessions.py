"""Session state in Redis: one hash per session plus a bounded history of what happened."""

from __future__ import annotations

import builtins
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import redis.asyncio as aioredis
from redis.typing import EncodableT

from waorch.clock import Clock
from waorch.core import keys
from waorch.core.redis_hashes import from_redis_hash
from waorch.core.redis_replies import as_strs
from waorch.errors import SessionNotFound


class Status(StrEnum):
    """Lifecycle of a session."""

    PROVISIONING = "provisioning"
    STARTING = "starting"
    QR_READY = "qr_ready"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    LOGGED_OUT = "logged_out"
    FAILED = "failed"
    STOPPED = "stopped"


# Sessions in these states should have a running worker (the watchdog keeps them alive).
RUNNING = frozenset({Status.STARTING, Status.QR_READY, Status.CONNECTED, Status.DISCONNECTED})
HISTORY_LENGTH = 50
# Called after every set_status with (session id, status, reason).
StatusListener = Callable[[str, Status, str], Awaitable[None]]

# Updates a session only if it still exists (a late event must not resurrect a deleted session).
_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""


# Forgets where a dead worker took commands, unless another worker took its place meanwhile.
_FORGET_ADDRESS = """
if redis.call('HGET', KEYS[1], 'worker') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'command_url', '')
return 1
"""


@dataclass(frozen=True)
class Session:
    """One session as stored (times are unix seconds, 0 when unset)."""

    id: str
    status: str = Status.PROVISIONING
    proxy: str = ""
    phone: str = ""
    created: float = 0.0
    connected_since: float = 0.0
    last_ping: float = 0.0
    qr: str = ""
    qr_expires: float = 0.0
    reason: str = ""
    hint: str = ""  # what a person should check about ``reason`` (a failed connection's), if anything
    worker: str = ""
    command_url: str = ""
    restarts: int = 0
    generation: int = 0
    ban_until: float = 0.0
    first_connected: float = 0.0
    tier_pin: str = ""
    paused: int = 0
    restricted_until: float = 0.0
    breaker_until: float = 0.0  # the failure breaker holds its sending until then (core/breaker.py)
    breaker_reason: str = ""
    engine: str = ""  # the worker engine it was created with ("": before engines were recorded)


class SessionStore:
    """Reads and writes session hashes; every change is published for live views.

    ``clock`` is the core's: the time of every entry the store and its users write."""

    def __init__(self, redis: aioredis.Redis, clock: Clock) -> None:
        self.redis = redis
        self.clock = clock
        self._update = redis.register_script(_UPDATE)
        self._forget_address = redis.register_script(_FORGET_ADDRESS)
        self.status_listeners: list[StatusListener] = []

    async def get(self, session_id: str) -> Session:
        """One session (``SESSION_NOT_FOUND`` if it does not exist)."""
        data = await self.redis.hgetall(keys.session(session_id))
        if not data:
            raise SessionNotFound(f"no session {session_id}", session_id=session_id)
        return from_redis_hash(Session, data)

    async def find(self, session_id: str) -> Session | None:
        """One session, or ``None``."""
        data = await self.redis.hgetall(keys.session(session_id))
        return from_redis_hash(Session, data) if data else None

    async def ids(self) -> list[str]:
        """Every session id, oldest first."""
        return as_strs(await self.redis.zrange(keys.SESSIONS, 0, -1))

    async def list(self) -> list[Session]:
        """Every session, oldest first."""
        ids = await self.ids()
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid in ids:
                pipe.hgetall(keys.session(sid))
            rows = await pipe.execute()
        return [from_redis_hash(Session, row) for row in rows if row]

    async def update(self, session_id: str, **values: object) -> bool:
        """Set fields of an existing session; False if it no longer exists."""
        flat: list[EncodableT] = []
        for name, value in values.items():
            flat += [name, str(value)]
        updated = bool(await self._update(keys=[keys.session(session_id)], args=flat))
        if updated:
            await self.redis.publish(
                keys.EVENTS_CHANNEL,
                json.dumps(
                    {
                        "sessionId": session_id,
                        **{k: str(v) for k, v in values.items() if k not in ("qr", "command_url", "worker")},
                    }
                ),
            )
        return updated

    async def forget_command_address(self, session_id: str, worker: str) -> bool:
        """Forget the command address of the dead ``worker`` (whatever listens there now is not it);
        False if the session has another worker by now."""
        return bool(await self._forget_address(keys=[keys.session(session_id)], args=[worker]))

    async def set_status(
        self, session_id: str, status: Status, reason: str = "", hint: str = "", **values: object
    ) -> bool:
        """Change the status (with a reason, and what to check about it) and record it in the history."""
        updated = await self.update(session_id, status=status.value, reason=reason, hint=hint, **values)
        if updated:
            await self.record(session_id, "status", {"status": status.value, "reason": reason})
            for listener in self.status_listeners:
                await listener(session_id, status, reason)
        return updated

    async def record(self, session_id: str, kind: str, data: dict[str, Any]) -> None:
        """Append an entry to the session's bounded history."""
        entry = json.dumps({"at": self.clock.now(), "kind": kind, **data})
        key = keys.session_history(session_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, entry)
            pipe.ltrim(key, 0, HISTORY_LENGTH - 1)
            await pipe.execute()

    async def history(self, session_id: str) -> builtins.list[dict[str, Any]]:  # ``list`` is the method above
        """Newest-first history entries."""
        return [json.loads(row) for row in await self.redis.lrange(keys.session_history(session_id), 0, -1)]

    async def count_by_status(self) -> dict[str, int]:
        """Counts of sessions per status."""
        counts = {status.value: 0 for status in Status}
        for session in await self.list():
            counts[session.status] = counts.get(session.status, 0) + 1
        return counts
