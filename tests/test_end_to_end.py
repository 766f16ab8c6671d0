"""Provision → QR → scan → connected, on real parts: Redis, worker processes, simulator, proxies."""

from __future__ import annotations

import asyncio
import os
import signal

import httpx
import psutil
from support import RunningService, eventually, scan, wait_status


async def test_provision_qr_scan_connected(start_service, sim, socks_proxy) -> None:
    proxy = socks_proxy()
    running: RunningService = await start_service(PROXY_URL_1=proxy.url)
    created = await running.api.post("/api/sessions/provision", json={})
    assert created.status_code == 201
    session_id = created.json()["sessionId"]
    assert created.json()["proxy"] == proxy.url
    ready = await wait_status(running.api, session_id, "qr_ready")
    assert ready["qr"].count(",") == 3
    assert (await scan(sim.url, ready["qr"], "972501111111")).status_code == 200
    connected = await wait_status(running.api, session_id, "connected")
    assert connected["phone"] == "972501111111"
    proxies = (await running.api.get("/api/proxies")).json()["proxies"]
    assert proxies[0]["phones"] == ["972501111111"] and proxies[0]["sessions"] == [session_id]


async def test_logout_deletes_auth_and_worker_stays_down(start_service, sim) -> None:
    running: RunningService = await start_service()
    sid = (await running.api.post("/api/sessions/provision", json={"phone": "972501111111"})).json()["sessionId"]
    ready = await wait_status(running.api, sid, "qr_ready")
    await scan(sim.url, ready["qr"], "972501111111")
    await wait_status(running.api, sid, "connected")
    auth_dir = running.settings.sessions_dir / sid
    assert auth_dir.is_dir() and auth_dir.stat().st_mode & 0o777 == 0o700
    assert (await running.api.post(f"/api/sessions/{sid}/logout")).status_code == 202
    await wait_status(running.api, sid, "logged_out")
    assert not auth_dir.exists()
    await eventually(lambda: _worker_gone(running, sid), timeout=5)
    await asyncio.sleep(1.0)  # several watchdog passes: a logged-out session is not restarted
    session = await running.core.store.get(sid)
    assert session.status == "logged_out" and not await running.core.lifecycle.is_alive(sid)


async def _worker_gone(running: RunningService, sid: str) -> bool:
    return not await running.core.lifecycle.is_alive(sid)


async def test_phone_over_its_session_limit_is_refused_and_logged_out(start_service, sim) -> None:
    running: RunningService = await start_service(MAX_SESSIONS_PER_PHONE="2")
    sids = [(await running.api.post("/api/sessions/provision", json={})).json()["sessionId"] for _ in range(3)]
    for sid in sids:
        ready = await wait_status(running.api, sid, "qr_ready")
        assert (await scan(sim.url, ready["qr"], "972501111111")).status_code == 200

    async def settled() -> dict[str, dict] | None:  # the three workers report in any order: the first two win
        bodies = {sid: (await running.api.get(f"/api/sessions/{sid}")).json() for sid in sids}
        return (
            bodies if sorted(b["status"] for b in bodies.values()) == ["connected", "connected", "logged_out"] else None
        )

    bodies = await eventually(settled, timeout=20)
    [(late, refused)] = [(sid, body) for sid, body in bodies.items() if body["status"] == "logged_out"]
    assert "maximum number of linked sessions" in "".join(e.get("reason", "") for e in refused["history"])
    assert not (running.settings.sessions_dir / late).exists()
    members = await running.core.redis.smembers("waorch:phone:972501111111:sessions")
    assert members == set(sids) - {late}


async def test_worker_killed_is_restarted_and_reconnects_without_qr(start_service, sim) -> None:
    running: RunningService = await start_service()
    sid = (await running.api.post("/api/sessions/provision", json={})).json()["sessionId"]
    ready = await wait_status(running.api, sid, "qr_ready")
    await scan(sim.url, ready["qr"], "972501111111")
    await wait_status(running.api, sid, "connected")
    worker = (await running.core.store.get(sid)).worker
    os.kill(int(worker.split(":")[0]), signal.SIGKILL)

    async def reconnected() -> bool:
        session = await running.core.store.get(sid)
        return session.worker not in ("", worker) and session.status == "connected"

    await eventually(reconnected, timeout=15)
    statuses = [
        e["status"] for e in (await running.api.get(f"/api/sessions/{sid}")).json()["history"] if e["kind"] == "status"
    ]
    assert statuses.count("qr_ready") == 1  # the login survived: no second QR


async def test_delete_stops_worker_and_frees_everything(start_service, socks_proxy) -> None:
    running: RunningService = await start_service(PROXY_URL_1=socks_proxy().url, MAX_SESSIONS_PER_PROXY="1")
    sid = (await running.api.post("/api/sessions/provision", json={"phone": "972501111111"})).json()["sessionId"]
    await wait_status(running.api, sid, "qr_ready")
    pid = int((await running.core.store.get(sid)).worker.split(":")[0])
    assert (await running.api.delete(f"/api/sessions/{sid}")).status_code == 200
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not (running.settings.sessions_dir / sid).exists()
    assert await running.core.redis.scard("waorch:phone:972501111111:sessions") == 0
    # The slot is free again: a new session fits on the only proxy.
    assert (await running.api.post("/api/sessions/provision", json={})).status_code == 201


async def test_pairing_code_login(start_service, sim) -> None:
    running: RunningService = await start_service()
    sid = (await running.api.post("/api/sessions/provision", json={})).json()["sessionId"]
    await wait_status(running.api, sid, "qr_ready")
    bad = await running.api.post(f"/api/sessions/{sid}/pairing-code", json={"phone": "call me"})
    assert (bad.status_code, bad.json()["error"]) == (400, "INVALID_PHONE")
    missing = await running.api.post("/api/sessions/worker_99/pairing-code", json={"phone": "972501111111"})
    assert (missing.status_code, missing.json()["error"]) == (404, "SESSION_NOT_FOUND")

    async def command_url() -> str:
        return (await running.core.store.get(sid)).command_url

    await eventually(command_url)
    answer = await running.api.post(f"/api/sessions/{sid}/pairing-code", json={"phone": "+972 50-111-1111"})
    assert answer.status_code == 200
    code = answer.json()["code"]
    assert len(code) == 9 and code[4] == "-"
    async with httpx.AsyncClient(trust_env=False) as client:
        linked = await client.post(f"{sim.url}/sim/link-code", json={"phone": "972501111111", "code": code})
    assert linked.status_code == 200
    connected = await wait_status(running.api, sid, "connected")
    assert connected["phone"] == "972501111111"
    again = await running.api.post(f"/api/sessions/{sid}/pairing-code", json={"phone": "972501111111"})
    assert (again.status_code, again.json()["error"]) == (409, "NOT_PAIRABLE")
    assert again.json()["message"] == f"{sid} is connected: it is already linked to a phone"


async def test_pairing_code_of_a_logged_out_session_says_to_restart_it_and_works_after_the_restart(
    start_service,
) -> None:
    running: RunningService = await start_service()
    sid, _ = await running.core.pool.provision({"status": "logged_out", "created": "0", "generation": "0"}, None, None)
    pairing = f"/api/sessions/{sid}/pairing-code"
    refused = await running.api.post(pairing, json={"phone": "972501111111"})
    assert (refused.status_code, refused.json()["error"]) == (409, "NOT_PAIRABLE")
    assert refused.json()["message"] == f"{sid} is logged_out: restart it to get a new QR, then ask for a code"
    assert (await running.api.post(f"/api/sessions/{sid}/restart")).status_code == 202
    starting = await running.api.post(pairing, json={"phone": "972501111111"})  # long before its worker shows a QR
    assert (starting.status_code, starting.json()["message"]) == (
        409,
        f"{sid} is starting: wait until it shows a QR (status qr_ready), then ask for a code",
    )
    await wait_status(running.api, sid, "qr_ready")
    answer = await running.api.post(pairing, json={"phone": "972501111111"})
    assert answer.status_code == 200 and len(answer.json()["code"]) == 9
