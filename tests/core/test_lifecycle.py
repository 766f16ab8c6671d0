"""Starting, stopping and deleting one session never interleave: a delete at any step of a start
leaves no worker running and nothing of the session behind."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import psutil
import pytest
from support import RunningService, eventually

# Delays between a provision and its delete, in seconds: the start queue takes a start within
# 50 ms, and a start's steps (read the session, stop an old worker, spawn, record) take a few ms
# each, so the fine steps land a delete before, between and after each of them.
DELAYS = [n / 1000 for n in range(0, 80, 2)] + [0.15, 0.3, 0.6, 1.2]


def workers_of(sessions_dir: Path) -> list[psutil.Process]:
    """Live worker processes whose login data is under ``sessions_dir``."""
    found = []
    for process in psutil.process_iter(["environ", "status"]):
        with contextlib.suppress(psutil.Error):
            if (process.info["environ"] or {}).get("AUTH_DIR", "").startswith(str(sessions_dir)) and process.info[
                "status"
            ] != psutil.STATUS_ZOMBIE:
                found.append(process)
    return found


@pytest.mark.timeout(120)
async def test_a_delete_at_any_step_of_a_start_leaves_no_worker_and_no_session(start_service) -> None:
    running: RunningService = await start_service()
    core, sessions_dir = running.core, running.settings.sessions_dir
    seen: set[str] = set()
    for delay in DELAYS:
        session = await core.provision()
        await asyncio.sleep(delay)
        seen.add(str((await core.store.get(session.id)).status))
        await core.delete(session.id)
    assert {"provisioning", "starting"} <= seen  # deletes came before and after the worker was recorded

    async def nothing_left() -> bool:
        return not workers_of(sessions_dir) and await core.store.ids() == []

    await eventually(nothing_left, timeout=15)
    await asyncio.sleep(1.0)  # a worker spawned by a start that lost the race would be running by now
    assert workers_of(sessions_dir) == [] and await core.store.ids() == []
    assert not sessions_dir.exists() or list(sessions_dir.iterdir()) == []  # no login data left either
