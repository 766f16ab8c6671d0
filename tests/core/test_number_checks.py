"""Bulk "is this number on WhatsApp" checks: queued on a session, asked of the (simulated) network one by one at
the pace of the session's sends, counted against its day, answered on each check; a number not on WhatsApp is a
bad sign for the breaker. Bad input changes nothing."""

from __future__ import annotations

import httpx
from support import RunningService, conforms, eventually
from test_breaker import unregistered
from test_sending import FAST, PHONE, connected_session, delivered

PACED = {**FAST, "name": "paced", "delayMinMs": 4000, "delayMaxMs": 5000}  # 0.2-0.25 real s on a 20× clock
NUMBERS = ["+972523000001", "+972523000002", "+972523000003"]
NOBODY = "+972527000009"


async def lookups(sim_url: str, phone: str = PHONE) -> list[dict]:
    async with httpx.AsyncClient(trust_env=False) as client:
        return (await client.get(f"{sim_url}/sim/phones/{phone}/lookups")).json()


async def check(running: RunningService, sid: str, numbers: list[str]) -> httpx.Response:
    answer = await running.api.post("/api/v1/checks", json={"sessionId": sid, "numbers": numbers})
    conforms("POST", "/api/v1/checks", answer)
    return answer


async def answered(running: RunningService, check_id: str) -> dict | None:
    body = (await running.api.get(f"/api/v1/messages/{check_id}")).json()
    return body if body["status"] == "checked" else None


async def test_checks_are_answered_one_by_one_at_the_pace_of_sends(scaled) -> None:
    running, sim = scaled
    assert (await running.api.put("/api/trust-tiers", json={"tiers": [PACED]})).status_code == 200
    sid = await connected_session(running, sim.url)
    await unregistered(sim.url, NOBODY[1:])
    text = await running.api.post("/api/v1/send", json={"to": NUMBERS[0], "message": "hi", "sessionId": sid})
    answer = await check(running, sid, [*NUMBERS, NUMBERS[0], NOBODY])
    assert answer.status_code == 202
    checks = answer.json()["checks"]
    assert [entry["number"] for entry in checks] == [*NUMBERS, NOBODY]  # each number once, in order
    results = [await eventually(lambda c=entry: answered(running, c["checkId"]), timeout=20) for entry in checks]
    conforms("GET", "/api/v1/messages/{id}", await running.api.get(f"/api/v1/messages/{checks[0]['checkId']}"))
    assert [body["onWhatsApp"] for body in results] == [True, True, True, False]
    assert {body["kind"] for body in results} == {"check"} and {body["sessionId"] for body in results} == {sid}
    asked = await lookups(sim.url)
    assert [entry["phone"] for entry in asked] == [number[1:] for number in [*NUMBERS, NOBODY]]
    sent = await delivered(sim.url)
    assert [entry["text"] for entry in sent] == ["hi"]  # a check writes to nobody
    assert (await running.api.get(f"/api/v1/messages/{text.json()['messageId']}")).json()["kind"] == "text"
    times = sorted([entry["at"] for entry in asked] + [entry["at"] for entry in sent])
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert min(gaps) >= PACED["delayMinMs"] / 1000 - 0.05  # the tier's gap between any two, sends and checks alike
    daily = (await running.api.get(f"/api/sessions/{sid}/queue")).json()["daily"]
    assert (daily["sent"], daily["checks"], daily["queued"]) == (1, 4, 0)


async def test_numbers_not_on_whatsapp_found_by_checks_trip_the_breaker(start_service, sim) -> None:
    running = await start_service(SIM_URL=sim.url, BREAKER_THRESHOLD="4")
    assert (await running.api.put("/api/trust-tiers", json={"tiers": [FAST]})).status_code == 200
    sid = await connected_session(running, sim.url)
    nobody = ["972527000001", "972527000002"]
    for phone in nobody:
        await unregistered(sim.url, phone)
    answer = await check(running, sid, [f"+{phone}" for phone in nobody])
    for entry in answer.json()["checks"]:
        assert (await eventually(lambda c=entry: answered(running, c["checkId"]), timeout=10))["onWhatsApp"] is False

    async def tripped() -> dict | None:
        return (await running.api.get(f"/api/sessions/{sid}")).json()["breaker"]

    breaker = await eventually(tripped, timeout=10)
    assert breaker["reason"] == "2 numbers not on WhatsApp in 30 min"
    held = await check(running, sid, ["+972523000004"])  # accepted, but it waits like a send would
    assert held.status_code == 202
    queue = (await running.api.get(f"/api/sessions/{sid}/queue")).json()
    assert queue["depth"] == 1 and queue["waiting"]["reason"] == "breaker"


async def test_bad_checks_are_refused_and_change_nothing(start_service, sim) -> None:
    running = await start_service(SIM_URL=sim.url)
    limited = {**FAST, "dailyLimit": 2}
    assert (await running.api.put("/api/trust-tiers", json={"tiers": [limited]})).status_code == 200
    sid = await connected_session(running, sim.url)
    assert (await running.api.post(f"/api/sessions/{sid}/queue/pause")).status_code == 200
    refusals = {
        "NUMBERS": ({"sessionId": sid, "numbers": []}, 400, "BAD_REQUEST"),
        "TOO_MANY": ({"sessionId": sid, "numbers": NUMBERS * 34}, 400, "BAD_REQUEST"),
        "NOT_A_LIST": ({"sessionId": sid, "numbers": "+972523000001"}, 400, "BAD_REQUEST"),
        "BAD_NUMBER": ({"sessionId": sid, "numbers": [NUMBERS[0], "12"]}, 400, "INVALID_PHONE"),
        "NO_SESSION": ({"numbers": NUMBERS}, 400, "BAD_REQUEST"),
        "UNKNOWN_SESSION": ({"sessionId": "worker_99", "numbers": NUMBERS}, 404, "SESSION_NOT_FOUND"),
        "OVER_THE_DAY": ({"sessionId": sid, "numbers": NUMBERS}, 429, "DAILY_LIMIT"),
        "EXTRA_FIELD": ({"sessionId": sid, "numbers": NUMBERS[:1], "text": "x"}, 400, "BAD_REQUEST"),
    }
    for case, (body, status, code) in refusals.items():
        answer = await running.api.post("/api/v1/checks", json=body)
        conforms("POST", "/api/v1/checks", answer)
        assert (answer.status_code, answer.json()["error"]) == (status, code), case
    queue = (await running.api.get(f"/api/sessions/{sid}/queue")).json()
    assert queue["depth"] == 0 and queue["daily"]["queued"] == 0
    assert (await check(running, sid, NUMBERS[:2])).status_code == 202  # the day's room, exactly
