"""Sending end to end: API → durable queue → dispatcher → worker (typing, send) → simulator's log."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from support import RunningService, conforms, eventually, post_event, scan, wait_status

from waorch.clock import ScaledClock
from waorch.sim.server import SimServer

PHONE = "972501111111"
FAST = {"name": "fast", "minAgeDays": 0, "dailyLimit": 1000, "perMinute": 1000, "delayMinMs": 0,
        "delayMaxMs": 10, "hoursStart": "00:00", "hoursEnd": "24:00"}


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


@pytest.fixture
async def scaled(start_service, sim_factory) -> tuple[RunningService, SimServer]:
    """Service and simulator on one clock running 20 times faster than real time."""
    clock = ScaledClock(20)
    sim = await sim_factory(clock=clock, qr_first_ttl=30, qr_ttl=10)
    return await start_service(clock=clock, SIM_URL=sim.url), sim


async def test_texts_arrive_intact_in_order(scaled) -> None:
    running, sim = scaled
    assert (await running.api.put("/api/trust-tiers", json={"tiers": [FAST]})).status_code == 200
    sid = await connected_session(running, sim.url)
    texts = ["שלום עולם! מה שלומך?", "emoji 👋🏽👨‍👩‍👧‍👦 ✅", "x" * 4096, "plain"]
    ids = []
    for text in texts:
        answer = await running.api.post("/api/v1/send", json={"to": "+972 52-222-2222", "message": text, "sessionId": sid})
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
    a = (await running.api.post("/api/v1/send", json={"to": "+972522222222", "message": "hi", "sessionId": second})).json()
    await eventually(lambda: _is(status_of(running, a["messageId"]), "sent"), timeout=15)
    b = (await running.api.post("/api/v1/send", json={"to": "+972522222222", "message": "again"})).json()
    assert b["sessionId"] == second  # the recipient's previous sender
    c = (await running.api.post("/api/v1/send", json={"to": "+972524444444", "message": "new"})).json()
    assert c["sessionId"] == first  # most remaining capacity today


async def test_a_message_arriving_just_after_a_wake_is_sent_at_once(scaled) -> None:
    """A wake (here: a worker event) followed at once by an arrival: the arrival must not wait for the next poll."""
    running, sim = scaled
    await running.api.put("/api/trust-tiers", json={"tiers": [FAST]})
    sid = await connected_session(running, sim.url)
    generation = (await running.core.store.get(sid)).generation
    for n in range(16):
        lifted = {"reason": "reachout_timelock", "detail": "test", "until": 0}  # a restriction already over
        assert (await post_event(running, sid, "SEND_RESTRICTED", lifted, generation)).status_code == 200
        queued = (await running.api.post("/api/v1/send", json={"to": "+972522222222", "message": f"m{n}", "sessionId": sid})).json()
        await eventually(lambda m=queued["messageId"]: _is(status_of(running, m), "sent"), timeout=4)  # a lost wake waits 15 s


async def status_of(running: RunningService, message_id: str) -> str:
    """A message's status as the API reports it."""
    return (await running.api.get(f"/api/v1/messages/{message_id}")).json()["status"]


async def test_reach_out_timelock_holds_new_contacts_only_until_it_passes(start_service, sim_factory) -> None:
    clock = ScaledClock(20)
    sim = await sim_factory(clock=clock, qr_first_ttl=30, qr_ttl=10)
    running = await start_service(clock=clock, SIM_URL=sim.url, RESTRICT_NEW_CONTACTS_MS="120000")
    await running.api.put("/api/trust-tiers", json={"tiers": [FAST]})
    sid = await connected_session(running, sim.url)
    known = (await running.api.post("/api/v1/send", json={"to": "+972522222222", "message": "hello", "sessionId": sid})).json()

    await eventually(lambda: _is(status_of(running, known["messageId"]), "sent"), timeout=10)
    generation = (await running.core.store.get(sid)).generation
    answer = await post_event(running, sid, "SEND_RESTRICTED", {"reason": "reachout_timelock", "detail": "463", "until": None}, generation)
    assert answer.status_code == 200
    again = (await running.api.post("/api/v1/send", json={"to": "+972522222222", "message": "known contact", "sessionId": sid})).json()
    await eventually(lambda: _is(status_of(running, again["messageId"]), "sent"), timeout=10)
    new = (await running.api.post("/api/v1/send", json={"to": "+972524444444", "message": "new contact", "sessionId": sid})).json()
    await clock.sleep(60)  # half the hold
    assert await status_of(running, new["messageId"]) == "queued"
    queue = (await running.api.get(f"/api/sessions/{sid}/queue")).json()
    assert queue["nextSendAt"] >= clock.now() + 30
    assert queue["waiting"]["reason"] == "reach_out" and "new contacts wait until" in queue["waiting"]["text"]
    await eventually(lambda: _is(status_of(running, new["messageId"]), "sent"), timeout=15)


async def _is(value, expected: str) -> bool:
    return await value == expected


async def test_a_waiting_queue_says_why_in_words(start_service, sim) -> None:
    running = await start_service(SIM_URL=sim.url, TIMEZONE="Asia/Jerusalem")
    zone = ZoneInfo("Asia/Jerusalem")
    hour = (datetime.now(zone) + timedelta(hours=2)).hour
    later = {**FAST, "perMinute": 1, "hoursStart": f"{hour:02d}:00", "hoursEnd": f"{(hour + 1) % 24:02d}:00"}
    assert (await running.api.put("/api/trust-tiers", json={"tiers": [later]})).status_code == 200
    sid = await connected_session(running, sim.url)
    first = (await running.api.post("/api/v1/send", json={"to": "+972522222222", "message": "one", "sessionId": sid})).json()
    queue = (await running.api.get(f"/api/sessions/{sid}/queue")).json()
    conforms("GET", "/api/sessions/{id}/queue", await running.api.get(f"/api/sessions/{sid}/queue"))
    assert queue["waiting"] == {"reason": "hours", "text": f"outside active hours {hour:02d}:00-{(hour + 1) % 24:02d}:00 "
                                f"(Asia/Jerusalem): opens {hour:02d}:00" + (" tomorrow" if hour < 2 else "")}
    assert (await running.api.put("/api/trust-tiers", json={"tiers": [{**FAST, "perMinute": 1}]})).status_code == 200
    await eventually(lambda: _is(status_of(running, first["messageId"]), "sent"), timeout=10)
    await running.api.post("/api/v1/send", json={"to": "+972522222222", "message": "two", "sessionId": sid})
    queue = (await running.api.get(f"/api/sessions/{sid}/queue")).json()
    assert queue["waiting"] == {"reason": "per_minute", "text": "per-minute cap: 1 sent in the last minute"}
    assert queue["nextSendAt"] > time.time() + 50
    log = [entry.text for entry in await running.core.activity.latest(100) if entry.session == sid]
    assert f"{first['messageId']} to +972522222222 sent" in log  # a sent message shows in the log pane too
