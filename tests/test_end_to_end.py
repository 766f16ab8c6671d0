"""Provision → QR → scan → connected, on real parts: Redis, worker processes, simulator, proxies."""

from __future__ import annotations

import httpx
import psutil

from conftest import RunningService, eventually


async def wait_status(api: httpx.AsyncClient, session_id: str, status: str, timeout: float = 10.0) -> dict:
    """Poll the API until the session has ``status``; return its body."""

    async def check() -> dict | None:
        body = (await api.get(f"/api/sessions/{session_id}")).json()
        return body if body.get("status") == status else None

    return await eventually(check, timeout)


async def scan(sim_url: str, qr: str, phone: str) -> httpx.Response:
    """Play the phone: scan the QR in the simulator."""
    async with httpx.AsyncClient(trust_env=False) as client:
        return await client.post(f"{sim_url}/sim/scan", json={"qr": qr, "phone": phone})


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
