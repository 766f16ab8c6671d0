"""``waorch backup``, ``waorch backups`` and ``waorch restore NAME [--replace]``.

Backups are taken and restored by the active core. When one runs on this Redis (``waorch serve``, a
control room), the command asks it through its API with ``API_KEY`` (only on this machine or over
https, as an attached control room does). When none runs, the command is the active core for the
moment: it takes the lease (so no core starts meanwhile), acts on Redis and the data dir directly,
and gives the lease back; the restored sessions' workers then start with the next ``waorch serve``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import redis.asyncio as aioredis

from waorch.cancel import cancel_and_wait
from waorch.config import Settings
from waorch.control.base import Control
from waorch.control.local import LocalControl
from waorch.control.remote import RemoteControl
from waorch.core.backups import BackupInfo
from waorch.core.core import Core
from waorch.core.lease import current_holder
from waorch.core.redis_server import redis_client
from waorch.logs import say
from waorch.service import embedded_or_configured_redis


async def take(settings: Settings) -> int:
    """``waorch backup``: a backup now; its name, size and counts on stdout."""
    async with _control(settings) as control:
        info = await control.take_backup()
    print(_line(info))
    return 0


async def listing(settings: Settings) -> int:
    """``waorch backups``: one line per archive, newest first."""
    async with _control(settings) as control:
        archives = await control.backups()
    for info in archives:
        print(_line(info))
    if not archives:
        say(f"no backups in {settings.backups_dir}")
    return 0


async def restore(settings: Settings, name: str, replace: bool) -> int:
    """``waorch restore NAME [--replace]``."""
    async with _control(settings) as control:
        result = await control.restore_backup(name, replace)
    say(f"restored {result.name}: {result.sessions} session(s); their workers start (no QR needed)")
    if result.held:
        say(
            f"queues paused, they had messages waiting: {', '.join(result.held)}; resume each (`p` in the control "
            "room, POST /api/sessions/ID/queue/resume) once the old machine is known not to have sent them"
        )
    return 0


def _line(info: BackupInfo) -> str:
    created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.created))
    counts = "?" if info.sessions is None else f"{info.sessions} session(s), {info.messages} message(s)"
    return f"{info.name}\t{created}\t{info.size} bytes\t{counts}"


@contextlib.asynccontextmanager
async def _control(settings: Settings) -> AsyncIterator[Control]:
    """The active core's API if one runs on this Redis, else a core of this process holding the lease."""
    async with embedded_or_configured_redis(settings) as url:
        redis = redis_client(url)
        try:
            holder = await current_holder(redis)
            if holder is not None and not holder.is_dead():
                remote = RemoteControl(holder.url, settings.api_key)
                try:
                    yield remote
                finally:
                    await remote.close()
                return
            async with _core_here(settings, redis) as core:
                yield LocalControl(core)
        finally:
            await redis.aclose(close_connection_pool=True)


@contextlib.asynccontextmanager
async def _core_here(settings: Settings, redis: aioredis.Redis) -> AsyncIterator[Core]:
    core = Core(settings, redis)
    await core.lease.acquire()
    keeper = asyncio.ensure_future(core.lease.keep())
    try:
        yield core
    finally:
        await cancel_and_wait(keeper)
        await core.lease.release()
        await core.workers.close()
        await core.runner.close()
