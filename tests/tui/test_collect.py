"""What the sessions table is fed: every session's status, tier, proxy, queue depth and day counters, from a
real core."""

from __future__ import annotations

from support import scan, wait_status

from waorch.tui.snapshot import collect


async def test_rows_carry_queue_depth_counters_and_tier(start_service, sim, socks_proxy) -> None:
    proxy = socks_proxy()
    running = await start_service(PROXY_URL_1=proxy.url)
    sid = (await running.api.post("/api/sessions/provision", json={"phone": "+972501111111"})).json()["sessionId"]
    ready = await wait_status(running.api, sid, "qr_ready")
    idle = (await running.api.post("/api/sessions/provision", json={})).json()["sessionId"]
    await scan(sim.url, ready["qr"], "972501111111")
    await wait_status(running.api, sid, "connected")
    assert (await running.api.post(f"/api/sessions/{sid}/queue/pause")).status_code == 200
    for text in ("one", "two", "three"):
        answer = await running.api.post("/api/v1/send", json={"to": "+972522222222", "message": text, "sessionId": sid})
        assert answer.status_code == 202

    rows = {row.id: row for row in await collect(running.core)}

    busy = rows[sid]
    assert (busy.phone, busy.status, busy.tier, busy.proxy) == (
        "972501111111",
        "connected",
        "cold",
        f"127.0.0.1:{proxy.port}",
    )
    assert (busy.queue, busy.sent, busy.daily_limit, busy.failed) == (3, 0, 20, 0)
    assert busy.last_ping > 0
    assert (rows[idle].queue, rows[idle].sent, rows[idle].daily_limit) == (0, 0, 20)
    assert busy.health == rows[idle].health == 80  # the cold tier's 20 points, nothing else yet
