"""Redis as users run it: Valkey 8.1 and redis-server 7.0, passwords, a Redis that is down or restarts.

Every test here runs on both servers (``[valkey]``, ``[redis7]``).
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from redis_servers import RedisServer
from support import API_KEY, conforms, eventually, free_port
from telegram_standin import TelegramStandIn
from test_sending import FAST, connected_session, delivered

from waorch.core.redis_server import probe_durability

PASSWORD = "redis-pass-Zq81x0PLmf"


async def test_what_a_202_guarantees_is_read_from_the_server(
    own_redis: Callable[..., RedisServer], redis_kind: str
) -> None:
    client = aioredis.Redis.from_url(own_redis().url, decode_responses=True)
    durability = await probe_durability(client)
    await client.aclose()
    if redis_kind == "valkey":  # WAITAOF after every accepted write, appendfsync always too
        assert durability.waitaof and durability.power_cut_safe and "WAITAOF" in durability.describe()
    else:  # 7.0: no WAITAOF; Debian's appendfsync everysec can lose the last seconds on a power cut
        assert (durability.waitaof, durability.appendonly, durability.appendfsync) == (False, "yes", "everysec")
        assert not durability.power_cut_safe and "power cut" in durability.describe()
    assert durability.server.startswith(redis_kind.removesuffix("7"))

    client = aioredis.Redis.from_url(own_redis("--appendonly", "no", "--rename-command", "CONFIG", "").url)
    durability = await probe_durability(client)  # CONFIG renamed away: INFO still says append-only is off
    await client.aclose()
    assert (durability.waitaof, durability.appendonly, durability.appendfsync) == (False, "no", None)
    assert not durability.power_cut_safe and "persistence is off" in durability.describe()


async def test_a_redis_restart_under_a_running_core_loses_nothing_and_everything_resumes(
    own_redis: Callable[..., RedisServer], start_service, sim, receiver
) -> None:  # own_redis first: set up first, stopped last, so the service can still stop its workers
    server = own_redis()
    running = await start_service(
        REDIS_URL=server.url, CORE_LEASE_MS="1500", EVENTS_WEBHOOK_URL=receiver.url, PROVISIONING_INTERVAL_MS="0"
    )
    api, core = running.api, running.core
    await api.put("/api/trust-tiers", json={"tiers": [FAST]})
    sid = await connected_session(running, sim.url)
    worker = (await core.store.get(sid)).worker
    before = [
        (
            await api.post("/api/v1/send", json={"to": "+972522222222", "message": f"before {n}", "sessionId": sid})
        ).json()["messageId"]
        for n in range(5)
    ]
    await eventually(lambda: _sent(sim.url, 5), timeout=20)

    server.kill()  # kill -9: nothing answered 202 may be lost
    health = await api.get("/health")
    assert (
        health.status_code == 503
        and health.json()["redis"] is False
        and "Redis unavailable" in health.json()["problem"]
    )
    conforms("GET", "/health", health)
    for method, path, body in [
        ("POST", "/api/v1/send", {"to": "+972522222222", "message": "during", "sessionId": sid}),
        ("POST", "/api/sessions/provision", {}),
        ("GET", f"/api/sessions/{sid}", None),
        ("POST", f"/api/sessions/{sid}/queue/pause", None),
    ]:
        answer = await api.request(method, path, json=body)
        assert answer.status_code == 503 and answer.json()["error"] == "REDIS_UNAVAILABLE", (path, answer.text)
        conforms(method, path.replace(sid, "{id}"), answer)
    await eventually(lambda: _state_is(core, "suspended"), timeout=5)
    async with httpx.AsyncClient(trust_env=False) as client:  # someone writes while the core cannot store it
        await client.post(
            f"{sim.url}/sim/phones/972501111111/incoming", json={"from": "972503333333", "text": "while down"}
        )
    await asyncio.sleep(2.0)  # past the lease's TTL: the lease key has expired when Redis is back

    server.start()
    await eventually(lambda: _state_is(core, "active"), timeout=10)
    assert (await api.get("/health")).json()["status"] == "ok"
    after = [
        (
            await api.post("/api/v1/send", json={"to": "+972522222222", "message": f"after {n}", "sessionId": sid})
        ).json()["messageId"]
        for n in range(5)
    ]
    log = await eventually(lambda: _sent(sim.url, 10), timeout=20)
    assert collections.Counter(entry["messageId"] for entry in log) == collections.Counter(before + after)  # each once
    assert (await core.store.get(sid)).worker == worker, "the worker kept running through the outage"
    inbox = await eventually(lambda: _inbox(api, sid), timeout=15)
    assert [m["text"] for m in inbox] == ["while down"]  # the worker kept it until the core could store it
    forwarded = await receiver.wait_for(1, "message", timeout=15)
    assert forwarded[0]["data"]["text"] == "while down"
    second = (await api.post("/api/sessions/provision", json={})).json()["sessionId"]
    await eventually(lambda: _status_is(api, second, "qr_ready"), timeout=15)  # the start queue runs again


async def _sent(sim_url: str, count: int) -> list[dict] | None:
    log = await delivered(sim_url)
    return log if len(log) >= count else None


async def _inbox(api: httpx.AsyncClient, sid: str) -> list[dict]:
    return (await api.get(f"/api/sessions/{sid}/messages")).json()["messages"]


async def _state_is(core, prefix: str) -> bool:
    return core.state.startswith(prefix)


async def _status_is(api: httpx.AsyncClient, sid: str, status: str) -> bool:
    return (await api.get(f"/api/sessions/{sid}")).json().get("status") == status


async def _message_is(api: httpx.AsyncClient, message_id: str, status: str) -> bool:
    return (await api.get(f"/api/v1/messages/{message_id}")).json().get("status") == status


def _serve(tmp_path: Path, redis_url: str, sim_url: str, *command: str) -> subprocess.Popen[str]:
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DATA_DIR": str(tmp_path / "data"),
        "REDIS_URL": redis_url,
        "ORCH_PORT": str(port),
        "API_KEY": API_KEY,
        "WEBHOOK_SECRET": "serve-test-secret-0123456789",
        "WORKER_ENGINE": "sim",
        "SIM_URL": sim_url,
        "TERM": "dumb",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "waorch", *(command or ("serve",))],
        env=env,
        text=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    process.port = port  # type: ignore[attr-defined]
    return process


def _end(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.communicate()


def _read_until(process: subprocess.Popen[str], needle: str, timeout: float = 15.0) -> str:
    """Lines of the process's output up to the first that contains ``needle``."""
    seen = ""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        assert time.monotonic() < deadline and process.poll() is None, f"no {needle!r} in:\n{seen}"
        seen += process.stdout.readline()
    return seen


def _health(port: int) -> dict:
    return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2, trust_env=False).json()


async def test_a_full_redis_is_a_503_said_once_and_sending_resumes_when_it_has_room(
    own_redis: Callable[..., RedisServer], start_service, sim, telegram, caplog: pytest.LogCaptureFixture
) -> None:  # own_redis first (see above)
    server = own_redis()
    running = await start_service(REDIS_URL=server.url, **telegram.settings())
    api = running.api
    await api.put("/api/trust-tiers", json={"tiers": [FAST]})
    sid = await connected_session(running, sim.url)
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)).isoformat()
    send = {"to": "+972522222222", "message": "due while Redis is full", "sessionId": sid}
    scheduled = (await api.post("/api/v1/send", json={**send, "sendAt": soon})).json()["messageId"]
    admin = aioredis.Redis.from_url(server.url, decode_responses=True)
    caplog.set_level(logging.WARNING)
    await admin.config_set("maxmemory", int((await admin.info("memory"))["used_memory"]) // 2)
    try:
        refused = [await api.post("/api/v1/send", json=send) for _ in range(3)]
        assert [(r.status_code, r.json()["error"]) for r in refused] == [(503, "REDIS_FULL")] * 3
        conforms("POST", "/api/v1/send", refused[0])
        await eventually(lambda: _message_is(api, scheduled, "queued"), timeout=10)
        assert (await api.get(f"/api/v1/messages/{scheduled}")).json()["status"] == "queued"  # not sent while full
        await eventually(lambda: _alerted(telegram, "🧱 Redis is full"), timeout=10)  # alerted while full
    finally:
        await admin.config_set("maxmemory", 0)
    await eventually(lambda: _message_is(api, scheduled, "sent"), timeout=20)
    assert (await api.post("/api/v1/send", json=send)).status_code == 202
    entries = [fields for _, fields in await admin.xrange("waorch:activity") if fields["kind"] == "redis"]
    await admin.aclose()
    assert [e["level"] for e in entries] == ["error", "warning"]
    assert entries[0]["text"].startswith("Redis is full") and entries[1]["text"].startswith("Redis has room again")
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING and "Redis is full" in r.getMessage()]
    assert [(r.name, r.levelname) for r in problems] == [("waorch.activity", "ERROR")], "said once, not per refusal"
    assert not [r for r in caplog.records if r.exc_info], "no loop logged a traceback"
    assert len([line for line in telegram.lines() if "Redis is full" in line]) == 1


async def _alerted(telegram: TelegramStandIn, text: str) -> bool:
    return any(text in line for line in telegram.lines())


async def test_serve_waits_for_a_redis_that_is_down_and_starts_when_it_answers(
    tmp_path: Path, redis_kind: str, sim
) -> None:
    server = RedisServer(redis_kind, tmp_path / "late-redis", port=free_port())
    url = f"redis://127.0.0.1:{server.port}/2"
    serve = _serve(tmp_path, url, sim.url)
    try:
        waiting = _read_until(serve, "trying again in 2 s")  # the first attempt, then the second: a countdown
        assert f"REDIS_URL {url} does not answer (Connection refused); trying again in 1 s" in waiting
        server.start()
        started = _read_until(serve, "serving on")
        assert f"(Redis {url})" in started and "Traceback" not in waiting + started
        assert _health(serve.port)["redis"] is True
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(15) == 0
    finally:
        _end(serve)
        server.kill()


@pytest.mark.parametrize("command", ["serve", "tui"])
async def test_wrong_credentials_or_a_redis_that_is_down_are_one_line_errors(
    tmp_path: Path, own_redis: Callable[..., RedisServer], sim, command: str
) -> None:
    port = free_port()
    own_redis("--requirepass", PASSWORD, port=port)
    wrong = _serve(tmp_path, f"redis://:not-{PASSWORD}@127.0.0.1:{port}/0", sim.url, command)
    output = wrong.communicate(timeout=15)[0]
    assert wrong.returncode == 1 and output.count("\n") == 1, output
    assert output.startswith(f"waorch: REDIS_URL redis://***@127.0.0.1:{port}/0: Redis refused the credentials")
    assert PASSWORD not in output
    if command == "tui":  # the control room on a Redis that is down: one line too (serve waits, see above)
        down = _serve(tmp_path, f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0", sim.url, command)
        output = down.communicate(timeout=15)[0]
        assert down.returncode == 1 and "does not answer (Connection refused)" in output and output.count("\n") == 1
        assert PASSWORD not in output


async def test_an_acl_user_a_password_and_a_database_work_and_never_show(
    tmp_path: Path, own_redis: Callable[..., RedisServer], sim
) -> None:
    server = own_redis(port=free_port())
    admin = aioredis.Redis(unix_socket_path=str(server.socket_path), decode_responses=True)
    # an application user as an operator would make one: no CONFIG (its settings are read from INFO then)
    await admin.acl_setuser(
        "fleet",
        enabled=True,
        passwords=[f"+{PASSWORD}"],
        keys=["*"],
        channels=["*"],
        commands=["+@all", "-config", "-flushall", "-flushdb", "-shutdown", "-debug"],
    )
    serve = _serve(tmp_path, f"redis://fleet:{PASSWORD}@127.0.0.1:{server.port}/3", sim.url, "serve", "--stop-workers")
    try:
        output = _read_until(serve, "serving on")
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{serve.port}", headers={"X-API-Key": API_KEY}, trust_env=False
        ) as api:
            sid = (await api.post("/api/sessions/provision", json={})).json()["sessionId"]
            await eventually(lambda: _status_is(api, sid, "qr_ready"), timeout=15)
            answers = [
                await api.get(path)
                for path in ("/health", "/api/sessions", f"/api/sessions/{sid}", "/api/openapi.json")
            ]
        assert await _keys_in(server, 3) and not await _keys_in(server, 0)
        serve.send_signal(signal.SIGTERM)
        output += serve.communicate(timeout=15)[0]
    finally:
        _end(serve)
        await admin.aclose()
    assert "redis://***@127.0.0.1" in output and "durability:" in output
    logs = [path.read_text(errors="replace") for path in (tmp_path / "data").rglob("*.log")]
    for text in [output, *logs, *(answer.text for answer in answers)]:
        assert PASSWORD not in text and "fleet:" not in text


async def _keys_in(server: RedisServer, db: int) -> int:
    client = aioredis.Redis(unix_socket_path=str(server.socket_path), db=db)
    try:
        return len(await client.keys("waorch:*"))
    finally:
        await client.aclose()
