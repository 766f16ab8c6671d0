"""Backups of the fleet (``BACKUPS_DIR``, the newest ``MAX_BACKUPS`` kept) and their restore.

``Backups.take()`` is the one entry point that writes a backup (the API, the command line, the control
room and the daily job call it, on the active core). Order matters for "nothing sent twice": Redis is
read first (one instant), the sessions' journals after it, so every send the snapshot shows in flight
or waiting that went out meanwhile is in the copied journal, which the restored worker answers from
instead of sending again.

A restore checks the whole archive before it writes anything. The restored sessions' workers are
started (they reconnect with their login data, no QR); a session that had messages waiting comes back
with its queue paused: the lost machine may have sent them after the backup was taken, so the operator
resumes it once that is known (in-flight ones are settled from the journal whatever the pause).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import tarfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from waorch.clock import Clock
from waorch.config import Settings
from waorch.core import keys
from waorch.core.activity import INFO, ActivityLog
from waorch.core.backup_archive import REDIS, Archive, manifest_of, peek_manifest, read_archive, write_archive
from waorch.core.backup_files import place_session_files, read_session_files
from waorch.core.backup_redis import StoredKey, fleet_keys, parse_keys, snapshot, write_keys
from waorch.core.lifecycle import Lifecycle
from waorch.core.proxy_pool import ProxyPool
from waorch.core.sessions import RUNNING, SessionStore, Status
from waorch.core.start_queue import StartQueue
from waorch.errors import BackupCorrupt, BackupFailed, BackupNotFound, FleetNotEmpty, InvalidBackupName
from waorch.private_files import private_dir

log = logging.getLogger("waorch.backups")

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.tar\.gz$")  # any archive the operator put in the dir
OWN = re.compile(r"^waorch-backup-\d{8}-\d{6}-\d{3}\.tar\.gz$")  # the ones waorch wrote (and rotates)


@dataclass(frozen=True)
class BackupInfo:
    """One archive in the backups dir (counts ``None``: its manifest cannot be read)."""

    name: str
    created: float
    size: int
    sessions: int | None
    messages: int | None


@dataclass(frozen=True)
class RestoreResult:
    """What a restore brought back; ``held``: sessions whose queue is paused (messages were waiting)."""

    name: str
    sessions: int
    keys: int
    held: tuple[str, ...]


@dataclass(frozen=True)
class FleetParts:
    """The parts of the core a restore acts through."""

    store: SessionStore
    pool: ProxyPool
    starts: StartQueue
    lifecycle: Lifecycle


class Backups:
    """Takes, lists and restores backups, one at a time."""

    def __init__(
        self, settings: Settings, redis: aioredis.Redis, clock: Clock, activity: ActivityLog, fleet: FleetParts
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.clock = clock
        self.activity = activity
        self.fleet = fleet
        self._lock = asyncio.Lock()
        self._seen: dict[Path, tuple[tuple[int, int], BackupInfo]] = {}  # each archive's (mtime, size) and info

    @property
    def directory(self) -> Path:
        """``BACKUPS_DIR``."""
        return self.settings.backups_dir

    async def take(self) -> BackupInfo:
        """Write a backup of the fleet now and rotate; ``BACKUP_FAILED`` (and an alert) if the disk refuses."""
        async with self._lock:
            try:
                return await self._take()
            except (OSError, sqlite3.Error, tarfile.TarError) as error:
                problem = f"{error.__class__.__name__}: {error}"
                await self.activity.backup_failed(problem)
                raise BackupFailed(f"the backup was not written ({problem})") from None

    async def _take(self) -> BackupInfo:
        now = self.clock.now()
        stored = await snapshot(self.redis, int(now * 1000))
        sessions = _members_of(stored, keys.SESSIONS)
        files = await asyncio.to_thread(read_session_files, self.settings.sessions_dir, sessions)
        members = {REDIS: json.dumps([key.to_json() for key in stored]).encode(), **files}
        messages = sum(key.key.startswith(keys.message("")) for key in stored)
        counts = {"sessions": len(sessions), "messages": messages, "keys": len(stored), "files": len(files)}
        manifest = manifest_of(members, waorchVersion=version("waorch"), createdAt=now, counts=counts)
        path = await asyncio.to_thread(self._new_path, now)
        size = await asyncio.to_thread(write_archive, path, manifest, members, now)
        await asyncio.to_thread(self._rotate)
        text = f"backup {path.name} written: {len(sessions)} session(s), {messages} message(s), {size} bytes"
        await self.activity.add(INFO, "backup", text)
        return BackupInfo(path.name, now, size, len(sessions), messages)

    def _new_path(self, now: float) -> Path:
        private_dir(self.directory)
        at_ms = int(now * 1000)
        while (path := self.directory / _own_name(at_ms)).exists():
            at_ms += 1  # two backups within a millisecond (a stopped test clock)
        return path

    def _rotate(self) -> None:
        own = sorted(path for path in self.directory.iterdir() if OWN.match(path.name))
        for path in own[: -self.settings.max_backups]:
            path.unlink(missing_ok=True)
            log.info("backup %s removed (MAX_BACKUPS=%d)", path.name, self.settings.max_backups)

    async def age(self) -> float | None:
        """Seconds since the newest backup in the directory (``None``: there is none)."""
        created = [info.created for info in await self.archives()]
        return self.clock.now() - max(created) if created else None

    async def archives(self) -> list[BackupInfo]:
        """The archives in the backups dir, newest first."""
        return await asyncio.to_thread(self._list)

    def _list(self) -> list[BackupInfo]:
        """Open only archives not seen before (each /metrics scrape asks for the backup age)."""
        paths = (
            [path for path in self.directory.glob("*.tar.gz") if NAME.match(path.name)]
            if self.directory.is_dir()
            else []
        )
        self._seen = {path: self._known(path) for path in paths}
        infos = [info for _, info in self._seen.values()]
        return sorted(infos, key=lambda info: (info.created, info.name), reverse=True)

    def _known(self, path: Path) -> tuple[tuple[int, int], BackupInfo]:
        stat = path.stat()
        state = (stat.st_mtime_ns, stat.st_size)
        seen = self._seen.get(path)
        return seen if seen is not None and seen[0] == state else (state, _info(path))

    async def restore(self, name: str, *, replace: bool = False) -> RestoreResult:
        """Restore the archive ``name`` of the backups dir: checked whole first (nothing changes if it is not a
        sound waorch backup); ``FLEET_NOT_EMPTY`` if sessions exist, unless ``replace`` (they are then
        stopped and deleted first)."""
        async with self._lock:
            archive = await asyncio.to_thread(read_archive, self._existing(name))
            stored = _redis_keys(archive)
            sessions = _members_of(stored, keys.SESSIONS)
            files = _session_files(archive, sessions)
            await self._refuse_or_clear(replace)
            await asyncio.to_thread(place_session_files, self.settings.sessions_dir, files)
            written = await write_keys(self.redis, stored, int(self.clock.now() * 1000))
            held = await self._bring_back(name, stored, sessions)
            await self._proxies_of_this_machine()
            log.warning("restored %s: %d session(s), %d held", name, len(sessions), len(held))
            return RestoreResult(name, len(sessions), written, held)

    async def _proxies_of_this_machine(self) -> None:
        """The restored proxies get the ids this machine's ``WEBHOOK_SECRET`` gives them; its configured
        ones (``PROXY_URL_<n>``) are in the pool too."""
        await self.fleet.pool.rekey()
        for proxy in self.settings.proxies:
            await self.fleet.pool.add(proxy, "env", exist_ok=True)

    def _existing(self, name: str) -> Path:
        if not NAME.match(name):
            raise InvalidBackupName(f"{name[:80]!r} is not a backup's name (a file name ending in .tar.gz)")
        path = self.directory / name
        if not path.is_file():
            raise BackupNotFound(f"no backup {name} in {self.directory}")
        return path

    async def _refuse_or_clear(self, replace: bool) -> None:
        current = await self.fleet.store.ids()
        if current and not replace:
            raise FleetNotEmpty(
                f"the fleet has {len(current)} session(s): a restore replaces them all; ask for that with --replace "
                '(API: {"replace": true})'
            )
        for session_id in current:
            await self.fleet.starts.discard(session_id)
            await self.fleet.lifecycle.stop(session_id)
            self.fleet.lifecycle.delete_auth(session_id)
        doomed = await fleet_keys(self.redis)
        for start in range(0, len(doomed), 500):
            await self.redis.delete(*doomed[start : start + 500])

    async def _bring_back(self, name: str, stored: list[StoredKey], sessions: list[str]) -> tuple[str, ...]:
        """Start the restored sessions that ran (their old workers are not ours); hold queues with work.
        The starts are queued once every session is ready, so the restore does not wait behind them."""
        waiting = _sessions_with_work(stored)
        starting = [session_id for session_id in sessions if await self._ready(name, session_id, session_id in waiting)]
        for session_id in starting:
            await self.fleet.starts.enqueue(session_id)
        return tuple(session_id for session_id in sessions if session_id in waiting)

    async def _ready(self, name: str, session_id: str, hold: bool) -> bool:
        """Forget the old machine's worker, pause a queue with work; True if the session is to start."""
        session = await self.fleet.store.get(session_id)
        await self.fleet.store.update(session_id, worker="", command_url="", **({"paused": 1} if hold else {}))
        if session.status not in RUNNING and session.status != Status.PROVISIONING:
            return False
        await self.fleet.store.set_status(session_id, Status.STARTING, f"restored from backup {name}")
        return True


def _own_name(at_ms: int) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(at_ms // 1000))
    return f"waorch-backup-{stamp}-{at_ms % 1000:03d}.tar.gz"


def _info(path: Path) -> BackupInfo:
    stat = path.stat()
    manifest = peek_manifest(path)
    counts = manifest.get("counts")
    counts = counts if isinstance(counts, dict) else {}
    created = manifest.get("createdAt")
    return BackupInfo(
        path.name,
        float(created) if isinstance(created, int | float) else stat.st_mtime,
        stat.st_size,
        _count(counts, "sessions"),
        _count(counts, "messages"),
    )


def _count(counts: dict[str, Any], name: str) -> int | None:
    value = counts.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _redis_keys(archive: Archive) -> list[StoredKey]:
    raw = archive.members.get(REDIS)
    if raw is None:
        raise BackupCorrupt(f"the archive has no {REDIS}")
    try:
        return parse_keys(json.loads(raw))
    except ValueError:
        raise BackupCorrupt(f"{REDIS} is not JSON") from None


def _members_of(stored: list[StoredKey], key: str) -> list[str]:
    """The members of a sorted set among the stored keys, in score order."""
    entry = next((entry for entry in stored if entry.key == key), None)
    return [str(member) for member, _ in sorted(entry.value, key=lambda pair: pair[1])] if entry else []


def _session_files(archive: Archive, sessions: list[str]) -> dict[str, dict[str, bytes]]:
    files = archive.session_files()
    if strangers := set(files) - set(sessions):
        raise BackupCorrupt(f"the archive holds files of sessions it does not have: {', '.join(sorted(strangers))}")
    return files


def _sessions_with_work(stored: list[StoredKey]) -> set[str]:
    """Sessions with messages waiting, in flight or scheduled in the stored state."""
    by_key = {entry.key: entry.value for entry in stored}
    scheduled = [member for member, _ in by_key.get(keys.SCHEDULED, [])]
    owners = {str(by_key.get(keys.message(message_id), {}).get("session", "")) for message_id in scheduled}
    queued = {key.rpartition(":")[2] for key in by_key if key.startswith((keys.queue(""), keys.inflight("")))}
    return (owners | queued) - {""}
