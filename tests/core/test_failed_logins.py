"""A login that cannot reach WhatsApp, under the core: the session says what failed and what to
check, and its worker's restarts and their backoff are visible (offline: the real neonize engine
dials through a proxy on loopback whose connections end at a local server that is not WhatsApp)."""

from __future__ import annotations

import time

import pytest
from socks_recorder import RelayingSocks
from support import RunningService, conforms, eventually, free_port, post_event, wait_status

from waorch.worker.connect_failures import KINDS


@pytest.mark.timeout(60)
async def test_a_dial_that_fails_after_the_proxy_says_why_and_when_the_worker_tries_again(
    start_service, not_whatsapp: RelayingSocks
) -> None:
    # The watchdog's periodic pass is 10 minutes away: the restart must come from the disconnect itself.
    running: RunningService = await start_service(
        WORKER_ENGINE="neonize", PROXY_URL_1=not_whatsapp.url(), WATCHDOG_INTERVAL_MS="600000"
    )
    sid = (await running.api.post("/api/sessions/provision", json={})).json()["sessionId"]

    async def backing_off() -> dict | None:
        body = (await running.api.get(f"/api/sessions/{sid}")).json()
        waiting = body["status"] == "disconnected" and body["nextStartAt"] and body["restarts"] >= 1
        return body if waiting else None

    body = await eventually(backing_off, timeout=40)
    assert body["reason"] == (
        "tls: the secure connection to WhatsApp failed (TLS): tls: first record does not look like a TLS handshake"
    )
    assert body["hint"] == KINDS["tls"].check
    assert 0 < body["nextStartAt"] - time.time() <= 60
    conforms("GET", "/api/sessions/{id}", (await running.api.get(f"/api/sessions/{sid}")))
    listed = (await running.api.get("/api/sessions")).json()["sessions"]
    assert [entry["sessionId"] for entry in listed] == [sid] and "nextStartAt" in listed[0]
    proxies = (await running.api.get("/api/proxies")).json()["proxies"]
    assert [proxy["status"] for proxy in proxies] == ["ok"], "the proxy worked: it is not to blame"


async def test_a_long_worker_reason_keeps_its_end_and_a_connection_clears_the_hint(start_service) -> None:
    running: RunningService = await start_service()
    await running.core.pool.provision({"status": "starting", "created": "0", "generation": "0"}, None, None)
    cause = "dial tcp: lookup web.whatsapp.com: no such host"
    detail = "WhatsApp's address could not be looked up (DNS): " + "wrapped: " * 60 + cause
    await post_event(
        running,
        "worker_1",
        "DISCONNECTED",
        {"reason": "dns", "loggedOut": False, "detail": detail, "hint": KINDS["dns"].check},
    )
    session = await running.core.store.get("worker_1")
    assert session.status == "disconnected" and session.reason.startswith("dns: WhatsApp's address")
    assert session.reason.endswith(cause) and " … " in session.reason and len(session.reason) <= 300
    assert session.hint == KINDS["dns"].check
    await post_event(running, "worker_1", "CONNECTED", {"phoneNumber": "+972501111111"})
    assert (await running.core.store.get("worker_1")).hint == ""


async def test_a_refusing_proxy_with_no_other_to_move_to_fails_the_session_saying_why(start_service) -> None:
    dead = f"socks5h://127.0.0.1:{free_port()}"
    running: RunningService = await start_service(PROXY_URL_1=dead)
    sid = (await running.api.post("/api/sessions/provision", json={})).json()["sessionId"]
    body = await wait_status(running.api, sid, "failed")
    endpoint = dead.removeprefix("socks5h://")
    assert body["reason"].startswith(
        f"proxy {endpoint} failed (the proxy refused the connection: socks5h://{endpoint}: "
    )
    assert body["reason"].endswith(" and every usable proxy already carries the maximum number of sessions")
    assert body["hint"] == KINDS["proxy_refused"].check
    [proxy] = (await running.api.get("/api/proxies")).json()["proxies"]
    assert proxy["status"] == "bad" and proxy["reason"].startswith("the proxy refused the connection")
