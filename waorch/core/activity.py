"""The activity log: what happened in the fleet, oldest first, in one capped Redis stream.

The core adds an entry when a session changes status, a proxy is marked BAD or is OK again, a
worker is restarted, a message fails, or Redis is full; the control room's log pane reads the
stream, whether the core runs in its process or in another one. An entry that is also an alert
(``alert=``: its kind) is scrubbed of secrets, carries its kind, and is raised in the alert store
(``core/alerts.py``), from where it goes to Telegram: one call, one place per event.

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
from waorch.core.alerts import AlertKind, AlertStore
from waorch.core.redis_hashes import from_redis_hash
from waorch.core.redis_replies import as_str, as_str_hash
from waorch.core.redis_server import is_full, over_maxmemory
from waorch.core.sessions import Status
from waorch.shorten import shorten

log = logging.getLogger("waorch.activity")

MAX_ENTRIES = 5000  # kept approximately (XADD MAXLEN ~)
INFO, WARNING, ERROR = "info", "warning", "error"
STATUS_LEVELS = {Status.FAILED: ERROR, Status.LOGGED_OUT: ERROR, Status.DISCONNECTED: WARNING}
STATUS_ALERTS = {
    Status.CONNECTED: AlertKind.CONNECTED,
    Status.DISCONNECTED: AlertKind.DISCONNECTED,
    Status.LOGGED_OUT: AlertKind.LOGGED_OUT,
    Status.FAILED: AlertKind.PARKED,
}
BAN = "temporary_ban"  # how a disconnect for a temporary ban begins its reason (core/events.py)
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
    alert: str = ""  # the kind of alert this entry raised ("": none)


def _entry(entry_id: bytes | str | None, fields: Mapping[bytes | str, bytes | str] | None) -> Activity:
    """An entry as redis-py reads a stream (an id and its fields; both typed as possibly nil)."""
    return from_redis_hash(Activity, {**as_str_hash(fields or {}), "id": as_str(entry_id)})


class ActivityLog:
    """Writes and reads the activity stream (writing never fails the change it reports)."""

    def __init__(
        self, redis: aioredis.Redis, clock: Clock, max_entries: int = MAX_ENTRIES, alerts: AlertStore | None = None
    ) -> None:
        self.redis = redis
        self.clock = clock
        self.alerts = alerts
        self.max_entries = max_entries
        self.full_since: float | None = None  # when Redis began refusing writes (None: it takes them)
        self._add_when_full = redis.register_script(_ADD_WHEN_FULL)

    async def add(
        self,
        level: str,
        kind: str,
        text: str,
        session_id: str = "",
        alert: AlertKind | None = None,
        subject: str = "",
    ) -> None:
        """Append an entry; the oldest ones beyond ``max_entries`` are trimmed. With ``alert``, the
        entry is also raised as that alert (``subject``: what repeats of it are counted by, if not
        its session)."""
        text = shorten(self.alerts.scrub(text) if alert and self.alerts else text, 500)
        fields: dict[EncodableT, EncodableT] = {
            "ts": self.clock.now(),
            "level": level,
            "session": session_id,
            "kind": kind,
            "text": text,
            **({"alert": alert.value} if alert else {}),
        }
        try:
            await self.redis.xadd(keys.ACTIVITY, fields, maxlen=self.max_entries, approximate=True)
        except (aioredis.RedisError, OSError) as error:
            log.warning("activity not recorded (%s): %s", error, text)
        if alert:
            await self._raise(alert, level, text, session_id, subject)

    async def _raise(self, alert: AlertKind, level: str, text: str, session_id: str = "", subject: str = "") -> None:
        if self.alerts is None:
            return
        try:
            await self.alerts.raise_alert(alert, level, text, session_id, subject)
        except (aioredis.RedisError, OSError) as error:
            log.warning("alert not raised (%s): %s", error, text)

    async def backup_failed(self, problem: str) -> None:
        """A backup failed (``problem``: why): logged, recorded and alerted."""
        log.error("backup failed: %s", problem)
        await self.add(ERROR, "backup", f"backup failed: {problem}", alert=AlertKind.BACKUP_FAILED)

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
                "alert",
                AlertKind.REDIS_FULL.value,
            ]
            try:
                await self._add_when_full(keys=[keys.ACTIVITY], args=[self.max_entries, *fields])
            except (aioredis.RedisError, OSError) as problem:
                log.warning("activity not recorded (%s)", problem)
            await self._raise(AlertKind.REDIS_FULL, ERROR, FULL)
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
        """Session status listener: one entry per change, errors for failed and logged-out; connected,
        disconnected (a temporary ban), logged out and failed (parked) are alerts."""
        text = f"{status.value}: {reason}" if reason else status.value
        alert = (
            AlertKind.BANNED if status == Status.DISCONNECTED and reason.startswith(BAN) else STATUS_ALERTS.get(status)
        )
        await self.add(STATUS_LEVELS.get(status, INFO), "status", text, session_id, alert)
