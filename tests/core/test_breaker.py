"""The failure breaker: bad signs (failed sends, numbers not on WhatsApp, disconnects) weighing the threshold
within the window hold a session's sending; the API, the queue and the log say why, an alert goes out, and a
resume (or the cool-off) lets it send again. End to end with the simulator's unregistered numbers and
disconnects; nothing queued is lost or sent twice."""

from __future__ import annotations

import httpx
from support import RunningService, conforms, eventually, post_event
from test_sending import FAST, PHONE, _is, connected_session, delivered, status_of

NO_CAPS = {"newContactsPerDay": 1000, "perRecipientPerHour": 1000, "perRecipientPerDay": 1000}
GOOD, BAD = "972522222222", [f"97252700000{n}" for n in range(1, 5)]


async def send(running: RunningService, sid: str, to: str, text: str) -> str:
    answer = await running.api.post("/api/v1/send", json={"to": f"+{to}", "message": text, "sessionId": sid})
    assert answer.status_code == 202, answer.text
    return answer.json()["messageId"]


async def unregistered(sim_url: str, phone: str) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        assert (await client.post(f"{sim_url}/sim/unregistered", json={"phone": phone})).is_success


async def test_numbers_not_on_whatsapp_trip_the_breaker_and_a_resume_lets_it_send(scaled) -> None:
    running, sim = scaled  # the default threshold, 8; a 20× clock (typing before each send)
    assert (await running.api.put("/api/trust-tiers", json={"tiers": [{**FAST, **NO_CAPS}]})).status_code == 200
    sid = await connected_session(running, sim.url)
    for phone in BAD:
        await unregistered(sim.url, phone)
    failed = [await send(running, sid, phone, "to nobody") for phone in BAD]  # 4 × 2: the threshold
    for message_id in failed:
        await eventually(lambda m=message_id: _is(status_of(running, m), "failed"), timeout=10)
    waiting = await send(running, sid, GOOD, "after the trip")

    async def tripped() -> dict | None:
        body = (await running.api.get(f"/api/sessions/{sid}")).json()
        return body if body.get("breaker") else None

    session = await eventually(tripped, timeout=10)
    conforms("GET", "/api/sessions/{id}", await running.api.get(f"/api/sessions/{sid}"))
    assert session["breaker"]["reason"] == "4 numbers not on WhatsApp in 30 min"
    assert session["breaker"]["until"] >= running.core.clock.now() + 3500
    queue = (await running.api.get(f"/api/sessions/{sid}/queue")).json()
    assert queue["waiting"]["reason"] == "breaker" and "4 numbers not on WhatsApp" in queue["waiting"]["text"]
    assert await status_of(running, waiting) == "queued"
    activity = await running.core.activity.latest(50)  # the log pane's lines
    assert any(entry.kind == "breaker" and entry.session == sid and entry.alert == "breaker" for entry in activity)
    alerts = (await running.api.get("/api/alerts")).json()["alerts"]
    assert any(alert["kind"] == "breaker" for alert in alerts)

    assert (await running.api.post(f"/api/sessions/{sid}/queue/resume")).status_code == 200
    await eventually(lambda: _is(status_of(running, waiting), "sent"), timeout=10)
    assert (await running.api.get(f"/api/sessions/{sid}")).json()["breaker"] is None
    assert [entry["text"] for entry in await delivered(sim.url)] == ["after the trip"]  # each once


async def drop(running: RunningService, sid: str) -> None:
    """The worker says the session is (back) up, then that the connection dropped."""
    generation = (await running.core.store.get(sid)).generation
    assert (await post_event(running, sid, "CONNECTED", {"phoneNumber": f"+{PHONE}"}, generation)).status_code == 200
    lost = {"reason": "connection_lost", "detail": "test"}
    assert (await post_event(running, sid, "DISCONNECTED", lost, generation)).status_code == 200


async def test_signs_under_the_threshold_or_outside_the_window_do_not_trip(start_service, sim) -> None:
    running = await start_service(SIM_URL=sim.url, BREAKER_THRESHOLD="3", BREAKER_WINDOW_MS="2000")
    sid = await connected_session(running, sim.url)
    for _ in range(2):
        await drop(running, sid)
    assert (await running.core.store.get(sid)).breaker_until == 0
    await running.core.clock.sleep(2.5)  # the window passes: those two no longer count
    await drop(running, sid)
    assert (await running.core.store.get(sid)).breaker_until == 0
    for _ in range(2):
        await drop(running, sid)
    session = await running.core.store.get(sid)
    assert session.breaker_until > running.core.clock.now() and session.breaker_reason == "3 disconnects in 2 s"


async def test_a_breaker_of_threshold_zero_never_trips(start_service, sim) -> None:
    running = await start_service(SIM_URL=sim.url, BREAKER_THRESHOLD="0")
    sid = await connected_session(running, sim.url, PHONE)
    for _ in range(20):
        await drop(running, sid)
    assert (await running.core.store.get(sid)).breaker_until == 0


async def test_failed_tries_to_reconnect_count_as_one_disconnect_but_a_ban_always_counts(start_service, sim) -> None:
    """A network outage: the worker's tries to reconnect fail one after another (DNS). That is one dropped
    connection, not one per try, in the breaker and in the health score; a ban while down is still a ban."""
    running = await start_service(SIM_URL=sim.url, BREAKER_THRESHOLD="3")
    sid = await connected_session(running, sim.url)
    await drop(running, sid)
    generation = (await running.core.store.get(sid)).generation
    dns = {"reason": "dns", "loggedOut": False, "detail": "WhatsApp's address could not be looked up (DNS)"}
    for _ in range(5):
        assert (await post_event(running, sid, "DISCONNECTED", dns, generation)).status_code == 200
    session = await running.core.store.get(sid)
    assert (session.status, session.breaker_until) == ("disconnected", 0)
    parts = {part["name"]: part for part in (await running.api.get(f"/api/sessions/{sid}/health")).json()["parts"]}
    assert parts["disconnects"]["detail"] == "1 disconnects"
    banned = {"reason": "temporary_ban", "detail": "test", "expiresAt": running.core.clock.now() + 60}
    for _ in range(2):
        assert (await post_event(running, sid, "DISCONNECTED", banned, generation)).status_code == 200
    session = await running.core.store.get(sid)
    assert session.breaker_until > running.core.clock.now() and session.breaker_reason == "3 disconnects in 30 min"


async def test_a_dropped_connection_and_a_ban_in_the_simulator_trip_the_breaker(start_service, sim) -> None:
    running = await start_service(SIM_URL=sim.url, BREAKER_THRESHOLD="2")
    sid = await connected_session(running, sim.url)

    async def back_since(since: float) -> bool:
        session = await running.core.store.get(sid)
        return session.status == "connected" and session.connected_since > since

    async with httpx.AsyncClient(base_url=sim.url, trust_env=False) as client:
        since = running.core.clock.now()
        assert (await client.post(f"/sim/phones/{PHONE}/disconnect")).is_success
        await eventually(lambda: back_since(since), timeout=20)
        assert (await running.core.store.get(sid)).breaker_until == 0
        assert (await client.post(f"/sim/phones/{PHONE}/ban", json={"seconds": 0.5})).is_success

    async def tripped() -> str:
        return (await running.core.store.get(sid)).breaker_reason

    assert await eventually(tripped, timeout=20) == "2 disconnects in 30 min"
