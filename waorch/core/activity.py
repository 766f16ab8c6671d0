"""The activity log: what happened in the fleet, oldest first, in one capped Redis stream.

The core adds an entry when a session changes status, a proxy is marked BAD or is OK again, a
worker is restarted, a message fails, or Redis is full; the control room's log pane reads the
stream, whether the core runs in its process or in another one.

Redis full (``maxmemory`` reached, writes refused): the first refusal of an episode is logged as
an error and recorded here (past the limit: the entry is small and says why nothing else can be
written); while it lasts, refusals are not logged again; its end is logged and recorded too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.typing import EncodableT

from waorch.clock import Clock
from waorch.core import keys
from waorch.core.redis_hashes import from_redis_hash
from waorch.core.redis_replies import as_str, as_str_hash
from waorch.core.redis_server import is_full, over_maxmemory
from waorch.core.sessions import Status
from waorch.shorten import shorten

log = logging.getLogger("waorch.activity")

MAX_ENTRIES = 5000  # kept approximately (XADD MAXLEN ~)
INFO, WARNING, ERROR = "info", "warning", "error"
STATUS_LEVELS = {Status.FAILED: ERROR, Status.LOGGED_OUT: ERROR, Status.DISCONNECTED: WARNING}
FULL = (
    "Redis is full (maxmemory reached): it refuses writes; sends and worker events answer 503 REDIS_FULL "
    "and nothing new is stored until memory is freed or maxmemory (REDIS_MAXMEMORY_MB) is raised"
)
# ARGV: max entries, then field/value pairs. Allowed past maxmemory: it reports that Redis is full.
_ADD_WHEN_FULL = """#!lua flags=allow-oom
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 2))
"""


@dataclass(frozen=True)
class Activity:
    """One entry: when (unix seconds), how bad, which session (``""``: none), what kind, what happened."""

    id: str
    ts: float = 0.0
    level: str = INFO
    session: str = ""
    kind: str = ""
    text: str = ""


def _entry(entry_id: bytes | str | None, fields: Mapping[bytes | str, bytes | str] | None) -> Activity:
    """An entry as redis-py reads a stream (an id and its fields; both typed as possibly nil)."""
    return from_redis_hash(Activity, {**as_str_hash(fields or {}), "id": as_str(entry_id)})


class ActivityLog:
    """Writes and reads the activity stream (writing never fails the change it reports)."""

    def __init__(self, redis: aioredis.Redis, clock: Clock, max_entries: int = MAX_ENTRIES) -> None:
        self.redis = redis
        self.clock = clock
        self.max_entries = max_entries
        self.full_since: float | None = None  # when Redis began refusing writes (None: it takes them)
        self._add_when_full = redis.register_script(_ADD_WHEN_FULL)

    async def add(self, level: str, kind: str, text: str, session_id: str = "") -> None:
        """Append an entry; the oldest ones beyond ``max_entries`` are trimmed."""
        fields: dict[EncodableT, EncodableT] = {
            "ts": self.clock.now(),
            "level": level,
            "session": session_id,
            "kind": kind,
            "text": shorten(text, 500),
        }
        try:
            await self.redis.xadd(keys.ACTIVITY, fields, maxlen=self.max_entries, approximate=True)
        except (aioredis.RedisError, OSError) as error:
            log.warning("activity not recorded (%s): %s", error, text)

    async def redis_full(self, error: BaseException) -> bool:
        """Whether ``error`` is Redis refusing a write at its ``maxmemory``; the first one of an
        episode is logged as an error and recorded (callers then need not log it)."""
        if not is_full(error):
            return False
        if self.full_since is None:
            self.full_since = self.clock.now()
            log.error("%s", FULL)
            fields: list[EncodableT] = [
                "ts",
                self.full_since,
                "level",
                ERROR,
                "session",
                "",
                "kind",
                "redis",
                "text",
                FULL,
            ]
            try:
                await self._add_when_full(keys=[keys.ACTIVITY], args=[self.max_entries, *fields])
            except (aioredis.RedisError, OSError) as problem:
                log.warning("activity not recorded (%s)", problem)
        return True

    async def check_full(self) -> None:
        """End an episode of a full Redis once it has room again (logged and recorded)."""
        if self.full_since is None or await over_maxmemory(self.redis):
            return
        lasted, self.full_since = self.clock.now() - self.full_since, None
        log.warning("Redis has room again: it takes writes (it was full for %.0f s)", lasted)
        await self.add(WARNING, "redis", f"Redis has room again (it was full for {lasted:.0f} s)")

    async def latest(self, count: int) -> list[Activity]:
        """The last ``count`` entries, oldest first."""
        rows = await self.redis.xrevrange(keys.ACTIVITY, count=count)
        return [_entry(entry_id, fields) for entry_id, fields in reversed(rows or [])]

    async def after(self, entry_id: str, count: int = 1000) -> list[Activity]:
        """Entries added after ``entry_id``, oldest first (at most ``count``)."""
        rows = await self.redis.xrange(keys.ACTIVITY, min=f"({entry_id}", count=count)
        return [_entry(row_id, fields) for row_id, fields in rows or []]

    async def status_changed(self, session_id: str, status: Status, reason: str) -> None:
        """Session status listener: one entry per change, errors for failed and logged-out."""
        text = f"{status.value}: {reason}" if reason else status.value
        await self.add(STATUS_LEVELS.get(status, INFO), "status", text, session_id)
