"""Sending end to end: API → durable queue → dispatcher → worker (typing, send) → simulator's log."""

from __future__ import annotations

import httpx
from support import RunningService, eventually, scan, wait_status

PHONE = "972501111111"
FAST = {
    "name": "fast",
    "minAgeDays": 0,
    "dailyLimit": 1000,
    "perMinute": 1000,
    "delayMinMs": 0,
    "delayMaxMs": 10,
    "hoursStart": "00:00",
    "hoursEnd": "24:00",
    "newContactsPerDay": 1000,
    "perRecipientPerHour": 1000,
    "perRecipientPerDay": 10000,
}


async def connected_session(running: RunningService, sim_url: str, phone: str = PHONE) -> str:
    """Provision a session and pair it in the simulator."""
    sid = (await running.api.post("/api/sessions/provision", json={})).json()["sessionId"]
    ready = await wait_status(running.api, sid, "qr_ready")
    await scan(sim_url, ready["qr"], phone)
    await wait_status(running.api, sid, "connected")
    return sid


async def delivered(sim_url: str, phone: str = PHONE) -> list[dict]:
    async with httpx.AsyncClient(trust_env=False) as client:
        return (await client.get(f"{sim_url}/sim/phones/{phone}/messages")).json()


async def test_texts_arrive_intact_in_order(scaled) -> None:
    running, sim = scaled
    assert (await running.api.put("/api/trust-tiers", json={"tiers": [FAST]})).status_code == 200
    sid = await connected_session(running, sim.url)
    texts = ["שלום עולם! מה שלומך?", "emoji 👋🏽👨‍👩‍👧‍👦 ✅", "x" * 4096, "plain"]
    ids = []
    for text in texts:
        answer = await running.api.post(
            "/api/v1/send", json={"to": "+972 52-222-2222", "message": text, "sessionId": sid}
        )
        assert answer.status_code == 202 and answer.json()["queued"] is True
        ids.append(answer.json()["messageId"])

    async def all_sent() -> list[dict] | None:
        log = await delivered(sim.url)
        return log if len(log) == len(texts) else None

    log = await eventually(all_sent, timeout=30)
    assert [entry["text"] for entry in log] == texts
    assert [entry["messageId"] for entry in log] == ids
    assert {entry["to"] for entry in log} == {"972522222222"}
    for message_id in ids:
        body = (await running.api.get(f"/api/v1/messages/{message_id}")).json()
        assert body["status"] == "sent" and body["sessionId"] == sid and body["waId"]
    async with httpx.AsyncClient(trust_env=False) as client:
        presences = (await client.get(f"{sim.url}/sim/phones/{PHONE}/presences")).json()
    assert len([p for p in presences if p.get("state", "composing") == "composing"]) >= len(texts)


async def test_distribution_prefers_previous_sender(scaled) -> None:
    running, sim = scaled
    await running.api.put("/api/trust-tiers", json={"tiers": [FAST]})
    first = await connected_session(running, sim.url, "972501111111")
    second = await connected_session(running, sim.url, "972503333333")
    a = (
        await running.api.post("/api/v1/send", json={"to": "+972522222222", "message": "hi", "sessionId": second})
    ).json()
    await eventually(lambda: _is(status_of(running, a["messageId"]), "sent"), timeout=15)
    b = (await running.api.post("/api/v1/send", json={"to": "+972522222222", "message": "again"})).json()
    assert b["sessionId"] == second  # the recipient's previous sender
    c = (await running.api.post("/api/v1/send", json={"to": "+972524444444", "message": "new"})).json()
    assert c["sessionId"] == first  # most remaining capacity today


async def status_of(running: RunningService, message_id: str) -> str:
    """A message's status as the API reports it."""
    return (await running.api.get(f"/api/v1/messages/{message_id}")).json()["status"]


async def _is(value, expected: str) -> bool:
    return await value == expected
