"""Backup and restore of a fleet of sim sessions: time and size.

Real parts: ``waorch sim`` (own process), one worker process per session (sim engine), the embedded
Valkey (private, in a temporary data dir). ``--sessions`` sessions are paired, each with
``--messages`` messages queued (paused), and a backup is taken while the workers run (Redis in one
script, each session's files after it). The archive is then restored on a fresh machine (a second
core with its own empty embedded Redis and data dir, on the same simulator, the first one's workers
stopped): the time of the restore itself, and until every session is connected again. Prints
whether any session needed a QR (none should: each reconnects with its restored login data).

    .venv/bin/python benchmarks/backup.py [--sessions 100] [--messages 10]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import time

from common import pair_all, sim_fleet, simulator, wait_all

from waorch.core.core import Core
from waorch.core.intake import SendRequest


async def fleet_with_work(core: Core, sim_url: str, sessions: int, messages: int) -> list[str]:
    ids = [(await core.provision()).id for _ in range(sessions)]
    await pair_all(core.store, sim_url, ids)
    for sid in ids:
        await core.set_paused(sid, True)
        for n in range(messages):
            await core.intake.accept(SendRequest("972522222222", f"benchmark {n}", sid, None))
    return ids


async def restore_on(fresh: Core, archive: str, ids: list[str]) -> None:
    started = time.monotonic()
    result = await fresh.backups.restore(archive)
    restored = time.monotonic() - started
    await wait_all(fresh.store, ids, "connected", 600)
    connected = time.monotonic() - started
    print(f"restore: {restored:.2f} s ({result.keys:,} keys, {result.sessions} sessions, {len(result.held)} held)")
    print(f"all {len(ids)} sessions connected again {connected:.1f} s after the restore began")
    qr = [sid for sid in ids if any(e.get("status") == "qr_ready" for e in (await fresh.store.history(sid))[:5])]
    print(f"sessions that needed a QR after the restore: {len(qr)}")


async def main(args: argparse.Namespace) -> None:
    async with simulator() as sim_url:
        async with sim_fleet(sim_url=sim_url) as (core, _):
            ids = await fleet_with_work(core, sim_url, args.sessions, args.messages)
            started = time.monotonic()
            info = await core.backups.take()
            took = time.monotonic() - started
            print(f"backup of {args.sessions} sessions, {info.messages:,} messages: {took:.2f} s, {info.size:,} bytes")
            kept = shutil.copy(core.settings.backups_dir / info.name, args.keep)
        async with sim_fleet(sim_url=sim_url) as (fresh, _):  # the first machine and its workers are gone
            fresh.settings.backups_dir.mkdir(mode=0o700, exist_ok=True)
            shutil.move(kept, fresh.settings.backups_dir / info.name)
            await restore_on(fresh, info.name, ids)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--messages", type=int, default=10, help="queued per session")
    parser.add_argument("--keep", default="/tmp", help="where the archive waits between the two machines")
    asyncio.run(main(parser.parse_args()))
