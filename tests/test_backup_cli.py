"""``waorch backup``, ``waorch backups``, ``waorch restore``: through the running core's API, or as the core
when none runs."""

from __future__ import annotations

import asyncio
import os
import sys

import redis.asyncio as aioredis
from support import API_KEY, RunningService, wait_status

from waorch.config import Settings
from waorch.core.lease import current_holder


async def waorch(settings: Settings, *args: str) -> tuple[int, str, str]:
    """Run the ``waorch`` command with the test's settings; exit status, stdout, stderr."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATA_DIR": str(settings.data_dir),
        "REDIS_URL": str(settings.redis_url),
        "API_KEY": API_KEY,
        "WEBHOOK_SECRET": settings.webhook_secret,
        "ORCH_PORT": str(settings.orch_port),
        "WORKER_ENGINE": "sim",
        "SIM_URL": str(settings.sim_url),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "waorch",
        "--env-file",
        "/nonexistent",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return int(process.returncode or 0), out.decode(), err.decode()


async def test_the_commands_go_through_the_running_core(start_service) -> None:
    running: RunningService = await start_service()
    sid = (await running.api.post("/api/sessions/provision", json={})).json()["sessionId"]
    await wait_status(running.api, sid, "qr_ready")
    status, out, err = await waorch(running.settings, "backup")
    assert status == 0, err
    name = out.split("\t")[0]
    assert (running.settings.backups_dir / name).is_file() and "1 session(s)" in out
    status, out, _ = await waorch(running.settings, "backups")
    assert status == 0 and out.startswith(name)
    status, _, err = await waorch(running.settings, "restore", name)
    assert status == 1 and "the fleet has 1 session(s)" in err and "--replace" in err
    status, _, err = await waorch(running.settings, "restore", "../../etc/passwd.tar.gz")
    assert status == 1 and "not a backup's name" in err


async def test_with_no_core_running_the_command_is_the_core_for_the_moment(
    make_settings, redis: aioredis.Redis
) -> None:
    settings: Settings = make_settings()
    await redis.set("waorch:tiers", "[]")
    status, out, err = await waorch(settings, "backup")
    assert status == 0, err
    name = out.split("\t")[0]
    assert await current_holder(redis) is None, "the lease is given back"
    await redis.flushall()
    status, _, err = await waorch(settings, "restore", name)
    assert status == 0, err
    assert "restored" in err and await redis.get("waorch:tiers") == "[]"
