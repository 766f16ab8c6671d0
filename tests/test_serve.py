"""``waorch serve`` as a real process on the embedded Redis: restart it and nothing is lost.

The session stays connected, the same worker process is adopted (not started twice), and no new
QR is shown.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import redis
from support import API_KEY, eventually, free_port, scan, wait_status


class Serve:
    """A ``waorch serve`` process with its own data dir (no REDIS_URL: the embedded default)."""

    def __init__(self, data_dir: Path, sim_url: str, proxy_url: str) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.env = {
            "PATH": os.environ["PATH"], "HOME": str(data_dir), "DATA_DIR": str(data_dir),
            "ORCH_PORT": str(self.port), "API_KEY": API_KEY, "WEBHOOK_SECRET": "serve-test-secret-0123456789",
            "WORKER_ENGINE": "sim", "SIM_URL": sim_url, "PROXY_URL_1": proxy_url,
            "PROVISIONING_INTERVAL_MS": "0", "PING_INTERVAL_MS": "300", "WATCHDOG_INTERVAL_MS": "300",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *extra: str) -> None:
        with open(self.data_dir.parent / "serve.log", "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "waorch", "serve", *extra], env=self.env,
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.data_dir.parent)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise TimeoutError("waorch serve did not come up")

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(15)

    def session_hash(self, session_id: str) -> dict[str, str]:
        client = redis.Redis(unix_socket_path=str(self.data_dir / "redis" / "redis.sock"), decode_responses=True)
        try:
            return client.hgetall(f"waorch:session:{session_id}")
        finally:
            client.close()


@pytest.fixture
def serve(tmp_path: Path, sim, socks_proxy) -> Iterator[Serve]:
    data = tmp_path / "data"
    data.mkdir()
    server = Serve(data, sim.url, socks_proxy().url)
    yield server
    if server.process and server.process.poll() is None:
        server.stop()
    for process in psutil.process_iter(["environ"]):
        with contextlib.suppress(psutil.Error):
            if (process.info["environ"] or {}).get("AUTH_DIR", "").startswith(str(data)):
                process.kill()


async def test_restart_adopts_connected_worker_without_new_qr(serve: Serve, sim) -> None:
    serve.start()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{serve.port}", headers={"X-API-Key": API_KEY}) as api:
        sid = (await api.post("/api/sessions/provision", json={})).json()["sessionId"]
        ready = await wait_status(api, sid, "qr_ready")
        await scan(sim.url, ready["qr"], "972501111111")
        await wait_status(api, sid, "connected")
    worker_before = serve.session_hash(sid)["worker"]
    assert serve.stop() == 0
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
    assert not psutil.pid_exists(int(worker_before.split(":")[0])) or psutil.Process(int(worker_before.split(":")[0])).status() == psutil.STATUS_ZOMBIE


def _redis_alive(serve: Serve) -> bool:
    with contextlib.suppress(redis.RedisError, OSError):
        return serve.session_hash("worker_1") is not None
    return False


def test_bad_configuration_stops_startup_with_one_line(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DATA_DIR": str(tmp_path / "d"), "ORCH_PORT": "seventy"}
    result = subprocess.run([sys.executable, "-m", "waorch", "serve"], env=env, capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["waorch: configuration error: ORCH_PORT: must be a whole number, got 'seventy'"]
    assert not (tmp_path / "d" / "secrets").exists()
