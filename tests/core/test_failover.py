"""A real proxy process dies: PROXY_ERROR, proxy BAD, the session moves and connects again."""

from __future__ import annotations

from support import RunningService, eventually, scan, wait_status


async def test_killed_proxy_moves_session_to_another_proxy(start_service, sim, socks_proxy) -> None:
    first, second = socks_proxy(), socks_proxy(user="alice", password="s3cret")
    running: RunningService = await start_service(
        PROXY_URL_1=first.url, PROXY_URL_2=second.url, MAX_SESSIONS_PER_PROXY="1"
    )
    sid = (await running.api.post("/api/sessions/provision", json={})).json()["sessionId"]
    ready = await wait_status(running.api, sid, "qr_ready")
    assert ready["proxy"] == first.url
    await scan(sim.url, ready["qr"], "972501111111")
    await wait_status(running.api, sid, "connected")
    old_worker = (await running.core.store.get(sid)).worker

    first.kill()

    async def moved() -> dict | None:
        body = (await running.api.get(f"/api/sessions/{sid}")).json()
        return (
            body
            if body["status"] == "connected" and body["proxy"] == "socks5h://***@" + second.url.split("@")[1]
            else None
        )

    body = await eventually(moved, timeout=15)
    assert body["phone"] == "972501111111"
    assert (await running.core.store.get(sid)).worker != old_worker
    proxies = {p["endpoint"]: p for p in (await running.api.get("/api/proxies")).json()["proxies"]}
    dead = proxies[f"127.0.0.1:{first.port}"]
    assert dead["status"] == "bad" and dead["load"] == 0 and dead["reason"]
    assert proxies[f"127.0.0.1:{second.port}"]["phones"] == ["972501111111"]
    history = (await running.api.get(f"/api/sessions/{sid}")).json()["history"]
    assert any("moved to" in (entry.get("reason") or "") for entry in history)


async def test_bad_proxy_is_rechecked_after_cooldown(start_service, socks_proxy) -> None:
    proxy = socks_proxy()
    running: RunningService = await start_service(PROXY_URL_1=proxy.url, PROXY_COOLDOWN_MS="200")
    pid = (await running.core.pool.list())[0].id
    proxy.kill()
    await running.core.pool.mark_bad(pid, "refused")

    async def still_marked() -> bool:
        return (await running.core.redis.hget(f"waorch:proxy:{pid}", "reason")) == "still failing after cool-down"

    await eventually(still_marked, timeout=5)
    proxy.start()

    async def healthy() -> bool:
        return (await running.core.redis.hget(f"waorch:proxy:{pid}", "status")) == "ok"

    await eventually(healthy, timeout=5)
