"""Incoming messages through the service: the inbox API, forwarding to a real receiver, a slow receiver, a real
sim worker."""

from __future__ import annotations

import time

import httpx
import pytest
from event_receiver import EventReceiver
from support import RunningService, conforms, eventually, post_event, scan, wait_status

from waorch.sim.server import SimServer

SECRET = "events-secret-0123456789abcdef"
PHONE, SENDER = "972501111111", "972502222222"
HEBREW = "שלום! מה שלומך? 😀👍🏽 🇮🇱"


@pytest.fixture
async def running(receiver: EventReceiver, start_service) -> RunningService:
    running = await start_service(EVENTS_WEBHOOK_URL=receiver.url, EVENTS_WEBHOOK_SECRET=SECRET, INBOX_LIMIT="20")
    await running.core.pool.provision({"status": "stopped", "created": "0", "generation": "0"}, None, None)
    return running


async def receive(running: RunningService, n: int, text: str = "hello") -> httpx.Response:
    data = {"from": SENDER, "chat": SENDER, "text": f"{text} {n}", "waId": f"3EB0{n:018d}", "timestamp": time.time()}
    return await post_event(running, "worker_1", "MESSAGE_RECEIVED", data)


async def test_messages_newest_first_in_pages(running: RunningService) -> None:
    for n in range(1, 6):
        assert (await receive(running, n, HEBREW)).status_code == 200
    first = await running.api.get("/api/sessions/worker_1/messages", params={"limit": 2})
    conforms("GET", "/api/sessions/{id}/messages", first)
    assert [m["text"] for m in first.json()["messages"]] == [f"{HEBREW} 5", f"{HEBREW} 4"]
    second = await running.api.get(
        "/api/sessions/worker_1/messages", params={"limit": 2, "before": first.json()["next"]}
    )
    third = await running.api.get(
        "/api/sessions/worker_1/messages", params={"limit": 2, "before": second.json()["next"]}
    )
    assert [m["id"] for m in second.json()["messages"]] == [3, 2]
    assert [m["id"] for m in third.json()["messages"]] == [1] and third.json()["next"] is None
    conforms("GET", "/api/sessions/{id}/messages", third)


async def test_bound_and_duplicates(running: RunningService) -> None:
    for n in range(1, 26):
        await receive(running, n)
    await receive(running, 25, "again")  # the worker retried a webhook: same waId
    body = (await running.api.get("/api/sessions/worker_1/messages", params={"limit": 100})).json()
    assert (
        len(body["messages"]) == 20
        and body["messages"][0]["text"] == "hello 25"
        and body["messages"][-1]["text"] == "hello 6"
    )


async def test_unknown_session_and_bad_queries(running: RunningService) -> None:
    missing = await running.api.get("/api/sessions/worker_99/messages")
    assert (missing.status_code, missing.json()["error"]) == (404, "SESSION_NOT_FOUND")
    conforms("GET", "/api/sessions/{id}/messages", missing)
    for query in (
        "limit=0",
        "limit=abc",
        "limit=1001",
        "limit=-1",
        "before=0",
        "before=x",
        "limit=1&limit=2",
        "colour=red",
        "limit=%EF%BC%95",
    ):
        bad = await running.api.get(f"/api/sessions/worker_1/messages?{query}")
        assert (bad.status_code, bad.json()["error"]) == (400, "INVALID_QUERY"), query
        conforms("GET", "/api/sessions/{id}/messages", bad)
    bad = await running.api.get("/api/events/deliveries?limit=many")
    assert (bad.status_code, bad.json()["error"]) == (400, "INVALID_QUERY")
    conforms("GET", "/api/events/deliveries", bad)


async def test_malformed_message_event_is_refused(running: RunningService) -> None:
    response = await post_event(running, "worker_1", "MESSAGE_RECEIVED", {"from": SENDER, "text": "no waId"})
    assert (response.status_code, response.json()["error"]) == (400, "BAD_REQUEST")
    assert (await running.api.get("/api/sessions/worker_1/messages")).json()["messages"] == []


async def test_deleted_session_drops_its_messages(running: RunningService) -> None:
    await receive(running, 1)
    assert (await running.api.delete("/api/sessions/worker_1")).status_code == 200
    assert (await running.api.get("/api/sessions/worker_1/messages")).status_code == 404
    assert await running.core.redis.keys("waorch:session:worker_1*") == []


async def test_messages_forwarded_signed_and_in_order(running: RunningService, receiver: EventReceiver) -> None:
    for n in range(1, 4):
        await receive(running, n, HEBREW)
    events = await receiver.wait_for(3, "message")
    stored = (await running.api.get("/api/sessions/worker_1/messages")).json()["messages"]
    assert [e["data"] for e in events] == stored[::-1]
    assert all(r.verified(SECRET) for r in receiver.received)


async def test_failed_deliveries_are_listed(receiver: EventReceiver, start_service) -> None:
    receiver.status = 410
    running = await start_service(EVENTS_WEBHOOK_URL=receiver.url, EVENTS_WEBHOOK_MAX_ATTEMPTS="1")
    await running.core.pool.provision({"status": "stopped", "created": "0", "generation": "0"}, None, None)
    await receive(running, 1)

    async def failed() -> list:
        return (await running.api.get("/api/events/deliveries")).json()["failed"]

    [entry] = await eventually(failed)
    assert entry["error"] == "HTTP 410" and entry["attempts"] == 1 and entry["delivery"]["data"]["text"] == "hello 1"
    listed = await running.api.get("/api/events/deliveries", params={"limit": 5})
    conforms("GET", "/api/events/deliveries", listed)
    assert listed.json()["forwarding"] is True and listed.json()["pending"] == 0
    assert receiver.received[0].verified(running.settings.events_webhook_secret)


async def test_without_a_url_messages_are_kept_not_queued(start_service) -> None:
    running = await start_service()
    await running.core.pool.provision({"status": "stopped", "created": "0", "generation": "0"}, None, None)
    await receive(running, 1)
    assert len((await running.api.get("/api/sessions/worker_1/messages")).json()["messages"]) == 1
    deliveries = await running.api.get("/api/events/deliveries")
    conforms("GET", "/api/events/deliveries", deliveries)
    assert deliveries.json() == {"forwarding": False, "pending": 0, "failed": []}


async def test_slow_receiver_does_not_slow_the_webhook(running: RunningService, receiver: EventReceiver) -> None:
    receiver.delay = 10.0
    await receive(running, 0)
    await receiver.wait_for(1)  # that delivery now hangs for 10 s
    slowest = 0.0
    for n in range(1, 21):
        started = time.monotonic()
        assert (await receive(running, n)).status_code == 200
        slowest = max(slowest, time.monotonic() - started)
    started = time.monotonic()
    body = (await running.api.get("/api/sessions/worker_1/messages")).json()
    # far below the receiver's 10 s hang, with room for a busy machine (the suite runs in 3 processes)
    assert slowest < 2.0 and time.monotonic() - started < 2.0 and len(body["messages"]) == 20
    assert (await running.api.get("/api/events/deliveries")).json()["pending"] == 21


async def test_incoming_message_from_a_real_sim_worker(receiver: EventReceiver, start_service, sim: SimServer) -> None:
    running = await start_service(EVENTS_WEBHOOK_URL=receiver.url, EVENTS_WEBHOOK_SECRET=SECRET)
    sid = (await running.api.post("/api/sessions/provision", json={})).json()["sessionId"]
    ready = await wait_status(running.api, sid, "qr_ready")
    assert (await scan(sim.url, ready["qr"], PHONE)).status_code == 200
    await wait_status(running.api, sid, "connected")
    async with httpx.AsyncClient(trust_env=False) as client:
        sent = (
            await client.post(f"{sim.url}/sim/phones/{PHONE}/incoming", json={"from": SENDER, "text": HEBREW})
        ).json()

    async def listed() -> list:
        return (await running.api.get(f"/api/sessions/{sid}/messages")).json()["messages"]

    [message] = await eventually(listed)
    assert {k: message[k] for k in ("sessionId", "from", "chat", "text", "waId")} == {
        "sessionId": sid,
        "from": SENDER,
        "chat": SENDER,
        "text": HEBREW,
        "waId": sent["waId"],
    }
    await receiver.wait_for(1, "message")
    events = [(e["type"], e["data"].get("status")) for e in receiver.events()]
    assert events[-3:] == [("session.status", "qr_ready"), ("session.status", "connected"), ("message", None)]
    assert receiver.events("message")[0]["data"] == message
    assert all(r.verified(SECRET) for r in receiver.received)
