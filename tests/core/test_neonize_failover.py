"""The real neonize engine under the core: a session's worker dials WhatsApp only through its own
proxy, by host name, and a refusing proxy hands the session over to the next one (offline)."""

from __future__ import annotations

import pytest
from socks_recorder import ATYP_DOMAIN, RecordingSocks
from support import RunningService, eventually, free_port

WHATSAPP_HOSTS = {"web.whatsapp.com", "g.whatsapp.net", "w1.web.whatsapp.com", "w2.web.whatsapp.com"}


@pytest.mark.timeout(90)
async def test_refusing_proxy_fails_over_to_the_next_and_dials_by_name(
    start_service, recording_proxy: RecordingSocks
) -> None:
    dead = f"socks5h://alice:first-secret@127.0.0.1:{free_port()}"
    running: RunningService = await start_service(
        WORKER_ENGINE="neonize",
        PROXY_URL_1=dead,
        PROXY_URL_2=recording_proxy.url(auth="bob:second-secret"),
        MAX_SESSIONS_PER_PROXY="1",
        PROXY_COOLDOWN_MS="600000",
    )
    sid = (await running.api.post("/api/sessions/provision", json={})).json()["sessionId"]
    request = await recording_proxy.first_request(timeout=60)
    assert request.address_type == ATYP_DOMAIN and request.host in WHATSAPP_HOSTS and request.port == 443
    assert (request.username, request.password) == ("bob", "second-secret")  # the session's own proxy credentials
    proxies = {p["endpoint"]: p for p in (await running.api.get("/api/proxies")).json()["proxies"]}
    assert proxies[dead.rsplit("@", 1)[1]]["status"] == "bad"

    async def moved() -> bool:
        body = (await running.api.get(f"/api/sessions/{sid}")).json()
        return body["proxyId"] == proxies[recording_proxy.url().rsplit("//", 1)[1]]["id"]

    await eventually(moved, timeout=10)
    log = (running.settings.data_dir / "logs" / f"{sid}.log").read_text()
    assert "first-secret" not in log and "second-secret" not in log
