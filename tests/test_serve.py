"""``waorch serve`` as a real process on the embedded Redis: restart it and nothing is lost.

The session stays connected, the same worker process is adopted (not started twice), and no new
QR is shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import psutil
import pytest
import redis
from support import API_KEY, Serve, eventually, free_port, scan, wait_status
from test_sending import FAST


async def test_restart_adopts_connected_worker_without_new_qr(serve: Serve, sim) -> None:
    serve.start()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{serve.port}", headers={"X-API-Key": API_KEY}) as api:
        sid = (await api.post("/api/sessions/provision", json={})).json()["sessionId"]
        ready = await wait_status(api, sid, "qr_ready")
        await scan(sim.url, ready["qr"], "972501111111")
        await wait_status(api, sid, "connected")
    worker_before = serve.session_hash(sid)["worker"]
    assert serve.stop() == 0
    said = (serve.data_dir.parent / "serve.log").read_text()
    assert "stopped; 1 worker(s) keep running" in said and "waorch serve --stop-workers" in said
    assert not (serve.data_dir / "redis" / "redis.sock").exists() or not _redis_alive(serve)
    assert psutil.pid_exists(int(worker_before.split(":")[0]))  # workers outlive the orchestrator

    restarted_at = time.time()
    serve.start("--stop-workers")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{serve.port}", headers={"X-API-Key": API_KEY}) as api:

        async def pinged_again() -> dict | None:
            body = (await api.get(f"/api/sessions/{sid}")).json()
            return body if (body.get("lastPing") or 0) > restarted_at else None

        body = await eventually(pinged_again, timeout=10)
        assert body["status"] == "connected" and body["phone"] == "972501111111"
        assert serve.session_hash(sid)["worker"] == worker_before  # adopted, not started again
        statuses = [e["status"] for e in body["history"] if e["kind"] == "status"]
        assert statuses.count("qr_ready") == 1
    assert serve.stop() == 0
    assert (
        not psutil.pid_exists(int(worker_before.split(":")[0]))
        or psutil.Process(int(worker_before.split(":")[0])).status() == psutil.STATUS_ZOMBIE
    )


def _redis_alive(serve: Serve) -> bool:
    with contextlib.suppress(redis.RedisError, OSError):
        return serve.session_hash("worker_1") is not None
    return False


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        ("ORCH_PORT", "seventy", "ORCH_PORT: must be a whole number, got 'seventy'"),
        (
            "PROXY_URL_2",
            "socks5h://fleet:hunter2@[::1:1080",
            "PROXY_URL_2: proxy URL cannot be read (a malformed [IPv6] address, e.g. an unclosed [?)",
        ),
    ],
)
def test_bad_configuration_stops_startup_with_one_line(tmp_path: Path, variable: str, value: str, line: str) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DATA_DIR": str(tmp_path / "d"), variable: value}
    result = subprocess.run(
        [sys.executable, "-m", "waorch", "serve"], env=env, capture_output=True, text=True, timeout=30, cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"waorch: configuration error: {line}"]
    assert not (tmp_path / "d" / "secrets").exists()


def test_an_empty_secret_file_stops_startup_with_one_line_naming_it(tmp_path: Path) -> None:
    """What a crash during a first start could leave behind: with it, requests without a key got in."""
    stored = tmp_path / "d" / "secrets" / "api_key"
    stored.parent.mkdir(parents=True)
    stored.write_text("")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DATA_DIR": str(tmp_path / "d")}
    result = subprocess.run(
        [sys.executable, "-m", "waorch", "serve"], env=env, capture_output=True, text=True, timeout=30, cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"waorch: configuration error: API_KEY: {stored} holds 0 characters, fewer than 16: "
        "delete it to have a new one generated, or set API_KEY"
    ]
    assert stored.read_text() == ""


async def test_everything_in_the_data_dir_is_private(serve: Serve) -> None:
    """Logs (phone numbers, tracebacks), the embedded Redis's files, login data: the owner's alone,
    also in a data dir an older version made readable by everyone."""
    os.chmod(serve.data_dir, 0o755)
    (serve.data_dir / "logs").mkdir(mode=0o755)
    (serve.data_dir / "logs" / "worker_1.log").touch()
    os.chmod(serve.data_dir / "logs" / "worker_1.log", 0o644)
    serve.start()
    async with serve.api() as api:
        sid = (await api.post("/api/sessions/provision", json={})).json()["sessionId"]
        await wait_status(api, sid, "qr_ready")
    assert stat.S_IMODE(serve.data_dir.stat().st_mode) == 0o700
    found = {
        path.relative_to(serve.data_dir).as_posix(): stat.S_IMODE(path.lstat().st_mode)
        for path in serve.data_dir.rglob("*")
    }
    assert {"logs/worker_1.log", "redis/redis.log", "sessions/worker_1"} <= found.keys()
    assert {path: oct(mode) for path, mode in found.items() if mode & 0o077} == {}


async def test_second_serve_on_the_same_redis_refuses_and_changes_nothing(
    start_service, redis_server, tmp_path: Path
) -> None:
    running = await start_service()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DATA_DIR": str(tmp_path / "d"),
        "REDIS_URL": redis_server.url,
        "API_KEY": API_KEY,
        "WEBHOOK_SECRET": "another-secret-0123456789",
        "ORCH_PORT": str(free_port()),
    }
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "waorch", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert f"another core is already active on this Redis (pid {os.getpid()}" in result.stderr
    assert running.settings.base_url in result.stderr and "Traceback" not in result.stderr
    assert (await running.api.get("/health")).status_code == 200
    assert (
        await running.service.core.lease.redis.hget("waorch:core:lease", "owner")
    ) == running.service.core.lease.owner


@pytest.mark.timeout(90)
async def test_a_killed_embedded_redis_is_started_again_and_sending_resumes(serve: Serve, sim) -> None:
    serve.env["CORE_LEASE_MS"] = "1500"
    serve.start("--stop-workers")
    async with serve.api() as api:
        await api.put("/api/trust-tiers", json={"tiers": [FAST]})
        sid = (await api.post("/api/sessions/provision", json={})).json()["sessionId"]
        ready = await wait_status(api, sid, "qr_ready", timeout=20)
        await scan(sim.url, ready["qr"], "972501111111")
        await wait_status(api, sid, "connected", timeout=20)
        first = (
            await api.post("/api/v1/send", json={"to": "+972522222222", "message": "one", "sessionId": sid})
        ).json()
        old_pid = serve.redis_pid()
        os.kill(old_pid, signal.SIGKILL)

        async def healthy_again() -> bool:
            body = (await api.get("/health")).json()
            return body["redis"] and body["core"] == "active" and serve.redis_pid() != old_pid

        await eventually(healthy_again, timeout=20, interval=0.2)
        second = (
            await api.post("/api/v1/send", json={"to": "+972522222222", "message": "two", "sessionId": sid})
        ).json()

        async def both_sent() -> bool:
            answers = [await api.get(f"/api/v1/messages/{m['messageId']}") for m in (first, second)]
            return all(answer.json()["status"] == "sent" for answer in answers)

        await eventually(both_sent, timeout=20)
    async with httpx.AsyncClient(trust_env=False) as client:
        log = (await client.get(f"{sim.url}/sim/phones/972501111111/messages")).json()
    assert sorted(entry["text"] for entry in log) == ["one", "two"]


async def test_a_session_keeps_the_engine_it_was_created_with(start_service, sim, tmp_path: Path) -> None:
    running = await start_service()  # the simulator (WORKER_ENGINE=sim)
    sid = (await running.api.post("/api/sessions/provision", json={})).json()["sessionId"]
    await wait_status(running.api, sid, "qr_ready")
    assert (await running.api.get(f"/api/sessions/{sid}")).json()["engine"] == "sim"
    real = running.core.lifecycle  # a start with the real engine configured and no simulator URL
    real.settings = replace(running.settings, worker_engine="neonize", sim_url=None)
    await real.start(sid)
    body = (await running.api.get(f"/api/sessions/{sid}")).json()
    assert body["status"] == "failed" and body["engine"] == "sim"
    assert "was created on the simulator (WORKER_ENGINE=sim) and SIM_URL is not set" in body["reason"]
    assert not await real.is_alive(sid)  # nothing started it on the real engine
