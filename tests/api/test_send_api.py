"""The sending API: bad input changes nothing, idempotency, daily limit, scheduling, queues, tiers."""

from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from support import RunningService, conforms

from waorch.api.tiers import tier_json
from waorch.clock import ScaledClock
from waorch.core import keys
from waorch.core.tiers import DEFAULT_TIERS

CONNECTED = {"status": "connected", "created": "0", "generation": "0", "command_url": ""}


@pytest.fixture
async def running(start_service) -> RunningService:
    """A service with two sessions marked connected but without workers (nothing is really sent)."""
    running = await start_service(DEFAULT_REGION="IL", WATCHDOG_INTERVAL_MS="600000")
    for _ in range(2):
        await running.core.pool.provision(CONNECTED, None, None)
    await running.core.set_paused("worker_1", True)
    await running.core.set_paused("worker_2", True)
    return running


async def queued_ids(running: RunningService, sid: str = "worker_1") -> list[str]:
    return await running.core.redis.lrange(f"waorch:queue:{sid}", 0, -1)


BAD_SENDS = [
    ({"to": "not a number", "message": "x"}, 400, "INVALID_PHONE"),
    ({"to": "+1 555", "message": "x"}, 400, "INVALID_PHONE"),
    ({"to": 972501234567, "message": "x"}, 400, "INVALID_PHONE"),
    ({"message": "x"}, 400, "INVALID_PHONE"),
    ({"to": "+972502345678", "message": ""}, 400, "EMPTY_MESSAGE"),
    ({"to": "+972502345678", "message": "   "}, 400, "EMPTY_MESSAGE"),
    ({"to": "+972502345678"}, 400, "EMPTY_MESSAGE"),
    ({"to": "+972502345678", "message": 5}, 400, "EMPTY_MESSAGE"),
    ({"to": "+972502345678", "message": "x" * 4097}, 400, "MESSAGE_TOO_LONG"),
    ({"to": "+972502345678", "message": "x", "sessionId": "worker_99"}, 404, "SESSION_NOT_FOUND"),
    ({"to": "+972502345678", "message": "x", "sessionId": 3}, 400, "BAD_REQUEST"),
    ({"to": "+972502345678", "message": "x", "sendAt": "tomorrow"}, 400, "INVALID_SEND_AT"),
    ({"to": "+972502345678", "message": "x", "sendAt": "2030-01-01T10:00:00"}, 400, "INVALID_SEND_AT"),
    ({"to": "+972502345678", "message": "x", "priority": "high"}, 400, "BAD_REQUEST"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_SENDS)
async def test_bad_send_changes_nothing(running: RunningService, body: dict, status: int, code: str) -> None:
    response = await running.api.post("/api/v1/send", json=body)
    assert (response.status_code, response.json()["error"]) == (status, code)
    conforms("POST", "/api/v1/send", response)
    assert await running.core.redis.keys("waorch:msg:*") == []


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"to": "+972502345678", "message": "hi \\ud800", "sessionId": "worker_1"}', "INVALID_TEXT"),
        (b'{"to": "+972502345678", "message": "hi", "sessionId": "worker_\\ud800"}', "INVALID_TEXT"),
    ],
)
async def test_json_escapes_that_are_not_text_are_refused(running: RunningService, raw: bytes, code: str) -> None:
    response = await running.api.post("/api/v1/send", content=raw, headers={"content-type": "application/json"})
    assert (response.status_code, response.json()["error"]) == (400, code)
    assert await running.core.redis.keys("waorch:msg:*") == []


async def test_daily_limit_starts_again_at_local_midnight(start_service) -> None:
    zone = ZoneInfo("Asia/Jerusalem")
    midnight = dt.datetime.combine(dt.datetime.now(zone).date() + dt.timedelta(days=1), dt.time(), zone).timestamp()
    clock = ScaledClock(1.0, start=midnight - 10)
    running = await start_service(clock=clock, TIMEZONE="Asia/Jerusalem", WATCHDOG_INTERVAL_MS="600000")
    await running.core.pool.provision(CONNECTED, None, None)
    await running.core.set_paused("worker_1", True)
    assert (await running.api.put("/api/trust-tiers", json={"tiers": broken(0, dailyLimit=1)})).status_code == 200
    send = {"to": "+972502345678", "message": "x", "sessionId": "worker_1"}
    assert (await running.api.post("/api/v1/send", json=send)).status_code == 202
    assert (await running.api.post("/api/v1/send", json=send)).status_code == 429
    assert clock.now() < midnight, "the service took too long to start"
    await asyncio.sleep(midnight - clock.now() + 0.1)
    assert (await running.api.post("/api/v1/send", json=send)).status_code == 202
    assert (await running.api.post("/api/v1/send", json=send)).status_code == 429


async def test_national_number_uses_default_region_and_message_is_readable(running: RunningService) -> None:
    answer = await running.api.post(
        "/api/v1/send", json={"to": "050-234-5678", "message": "שלום 👋", "sessionId": "worker_1"}
    )
    assert answer.status_code == 202
    conforms("POST", "/api/v1/send", answer)
    message = await running.api.get(f"/api/v1/messages/{answer.json()['messageId']}")
    conforms("GET", "/api/v1/messages/{id}", message)
    assert (
        message.json()["to"] == "+972502345678"
        and message.json()["status"] == "queued"
        and message.json()["length"] == 6
    )
    missing = await running.api.get("/api/v1/messages/msg_nope")
    assert (missing.status_code, missing.json()["error"]) == (404, "MESSAGE_NOT_FOUND")


async def test_unavailable_session(running: RunningService) -> None:
    await running.core.store.update("worker_2", status="logged_out")
    answer = await running.api.post(
        "/api/v1/send", json={"to": "+972502345678", "message": "x", "sessionId": "worker_2"}
    )
    assert (answer.status_code, answer.json()["error"]) == (409, "SESSION_UNAVAILABLE")


async def test_daily_limit_counts_queued_and_says_when_to_retry(running: RunningService) -> None:
    cold = DEFAULT_TIERS[0]
    for n in range(cold.daily_limit):
        answer = await running.api.post(
            "/api/v1/send", json={"to": "+972502345678", "message": f"m{n}", "sessionId": "worker_1"}
        )
        assert answer.status_code == 202
    refused = await running.api.post(
        "/api/v1/send", json={"to": "+972502345678", "message": "one more", "sessionId": "worker_1"}
    )
    assert (refused.status_code, refused.json()["error"]) == (429, "DAILY_LIMIT")
    conforms("POST", "/api/v1/send", refused)
    now = dt.datetime.now(running.settings.timezone)
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), now.tzinfo)
    assert abs(int(refused.headers["Retry-After"]) - (midnight - now).total_seconds()) < 5
    assert len(await queued_ids(running)) == cold.daily_limit


async def test_concurrent_sends_never_pass_the_daily_limit(running: RunningService) -> None:
    answers = await asyncio.gather(
        *(
            running.api.post("/api/v1/send", json={"to": "+972502345678", "message": str(n), "sessionId": "worker_1"})
            for n in range(40)
        )
    )
    assert sorted(a.status_code for a in answers) == [202] * 20 + [429] * 20
    assert len(await queued_ids(running)) == 20


async def test_distribution_without_capacity_is_503(running: RunningService) -> None:
    await running.core.store.update("worker_1", status="disconnected")
    await running.core.store.update("worker_2", status="qr_ready")
    answer = await running.api.post("/api/v1/send", json={"to": "+972502345678", "message": "x"})
    assert (answer.status_code, answer.json()["error"]) == (503, "NO_CAPACITY")


async def test_idempotency(running: RunningService) -> None:
    body = {"to": "+972502345678", "message": "once", "sessionId": "worker_1"}
    first = await running.api.post("/api/v1/send", json=body, headers={"Idempotency-Key": "order-1"})
    again = await running.api.post(
        "/api/v1/send", json=dict(reversed(list(body.items()))), headers={"Idempotency-Key": "order-1"}
    )
    assert first.status_code == again.status_code == 202 and first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await running.api.post(
        "/api/v1/send", json={**body, "message": "twice"}, headers={"Idempotency-Key": "order-1"}
    )
    assert (other.status_code, other.json()["error"]) == (422, "IDEMPOTENCY_MISMATCH")
    assert len(await queued_ids(running)) == 1
    # A failed request releases its key.
    bad = await running.api.post("/api/v1/send", json={**body, "to": "nope"}, headers={"Idempotency-Key": "order-2"})
    assert bad.status_code == 400
    fixed = await running.api.post(
        "/api/v1/send", json={**body, "to": "+972522222223"}, headers={"Idempotency-Key": "order-2"}
    )
    assert fixed.status_code == 202
    assert 24 * 3600 <= await running.core.redis.ttl(keys.idempotency("order-1"))


async def test_idempotency_in_progress_is_409(running: RunningService) -> None:
    body = {"to": "+972502345678", "message": "once", "sessionId": "worker_1"}
    claimed = await running.core.idempotency.begin(
        "slow", __import__("waorch.core.idempotency", fromlist=["fingerprint"]).fingerprint(body)
    )
    assert claimed is None
    answer = await running.api.post("/api/v1/send", json=body, headers={"Idempotency-Key": "slow"})
    assert (answer.status_code, answer.json()["error"]) == (409, "IDEMPOTENCY_IN_PROGRESS")


async def test_send_at_holds_message_in_outbox(running: RunningService) -> None:
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()
    answer = await running.api.post(
        "/api/v1/send", json={"to": "+972502345678", "message": "later", "sessionId": "worker_1", "sendAt": later}
    )
    assert answer.status_code == 202 and answer.json()["status"] == "scheduled"
    message = (await running.api.get(f"/api/v1/messages/{answer.json()['messageId']}")).json()
    assert message["status"] == "scheduled" and message["sendAt"] == pytest.approx(
        dt.datetime.fromisoformat(later).timestamp()
    )
    assert await queued_ids(running) == [] and await running.core.redis.zcard("waorch:outbox") == 1
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.5)).isoformat()
    quick = await running.api.post(
        "/api/v1/send", json={"to": "+972502345678", "message": "soon", "sessionId": "worker_1", "sendAt": soon}
    )
    for _ in range(50):
        if await queued_ids(running) == [quick.json()["messageId"]]:
            break
        await asyncio.sleep(0.1)
    assert await queued_ids(running) == [quick.json()["messageId"]]


async def test_queue_view_pause_resume(running: RunningService) -> None:
    await running.api.post("/api/v1/send", json={"to": "+972502345678", "message": "x", "sessionId": "worker_1"})
    view = await running.api.get("/api/sessions/worker_1/queue")
    conforms("GET", "/api/sessions/{id}/queue", view)
    body = view.json()
    assert body["paused"] is True and body["depth"] == 1 and body["nextSendAt"] is None
    assert body["tier"]["name"] == "cold" and body["daily"]["queued"] == 1 and body["daily"]["limit"] == 20
    resumed = await running.api.post("/api/sessions/worker_1/queue/resume")
    conforms("POST", "/api/sessions/{id}/queue/resume", resumed)
    assert resumed.json()["paused"] is False
    paused = await running.api.post("/api/sessions/worker_1/queue/pause")
    assert paused.json()["paused"] is True
    for path in ("/api/sessions/worker_9/queue",):
        assert (await running.api.get(path)).json()["error"] == "SESSION_NOT_FOUND"
    for path in ("/api/sessions/worker_9/queue/pause", "/api/sessions/worker_9/queue/resume"):
        assert (await running.api.post(path)).json()["error"] == "SESSION_NOT_FOUND"


def tier_rows() -> list[dict]:
    return [tier_json(tier) for tier in DEFAULT_TIERS]


def broken(index: int, **changes: object) -> list[dict]:
    rows = tier_rows()
    rows[index] = {**rows[index], **changes}
    return rows


BAD_TIERS = [
    {"tiers": []},
    {"tiers": "cold"},
    {},
    {"tiers": broken(0, dailyLimit=-1)},
    {"tiers": broken(1, perMinute=1.5)},
    {"tiers": broken(2, delayMinMs=5000, delayMaxMs=4000)},
    {"tiers": broken(0, hoursStart="25:00")},
    {"tiers": broken(0, hoursEnd="9am")},
    {"tiers": broken(1, minAgeDays=0)},
    {"tiers": broken(0, minAgeDays=1)},
    {"tiers": broken(2, minAgeDays=2)},
    {"tiers": broken(1, name="cold")},
    {"tiers": broken(0, colour="blue")},
    {"tiers": broken(0, dailyLimit=True)},
    {"tiers": broken(0, hoursStart="10:00", hoursEnd="10:00")},
]


@pytest.mark.parametrize("body", BAD_TIERS)
async def test_bad_tiers_change_nothing(running: RunningService, body: object) -> None:
    response = await running.api.put("/api/trust-tiers", json=body)
    assert (response.status_code, response.json()["error"]) == (400, "INVALID_TIERS")
    conforms("PUT", "/api/trust-tiers", response)
    assert (await running.api.get("/api/trust-tiers")).json()["tiers"] == tier_rows()


async def test_tiers_body_must_be_an_object(running: RunningService) -> None:
    response = await running.api.put("/api/trust-tiers", json=[1])
    assert (response.status_code, response.json()["error"]) == (400, "BAD_REQUEST")


async def test_tiers_saved_live_and_pinning(running: RunningService) -> None:
    rows = broken(0, dailyLimit=2)
    saved = await running.api.put("/api/trust-tiers", json={"tiers": rows})
    conforms("PUT", "/api/trust-tiers", saved)
    assert (await running.api.get("/api/trust-tiers")).json()["tiers"] == rows
    for n in range(2):
        assert (
            await running.api.post(
                "/api/v1/send", json={"to": "+972502345678", "message": str(n), "sessionId": "worker_1"}
            )
        ).status_code == 202
    assert (
        await running.api.post("/api/v1/send", json={"to": "+972502345678", "message": "3", "sessionId": "worker_1"})
    ).status_code == 429
    pinned = await running.api.put("/api/sessions/worker_1/tier", json={"tier": "hot"})
    conforms("PUT", "/api/sessions/{id}/tier", pinned)
    assert (await running.api.get("/api/sessions/worker_1/queue")).json()["tier"]["name"] == "hot"
    assert (
        await running.api.post("/api/v1/send", json={"to": "+972502345678", "message": "3", "sessionId": "worker_1"})
    ).status_code == 202
    for body in ({"tier": "lukewarm"}, {"tier": 3}, {}, {"tier": "hot", "x": 1}):
        bad = await running.api.put("/api/sessions/worker_1/tier", json=body)
        assert (bad.status_code, bad.json()["error"]) == (400, "INVALID_TIERS")
    assert (await running.api.put("/api/sessions/worker_9/tier", json={"tier": None})).status_code == 404
    assert (await running.api.put("/api/sessions/worker_1/tier", json={"tier": None})).status_code == 200
    assert (await running.api.get("/api/sessions/worker_1/queue")).json()["tier"]["name"] == "cold"


async def test_deleting_a_session_fails_its_waiting_messages(running: RunningService) -> None:
    queued = (
        await running.api.post("/api/v1/send", json={"to": "+972502345678", "message": "x", "sessionId": "worker_1"})
    ).json()
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.3)).isoformat()
    scheduled = (
        await running.api.post(
            "/api/v1/send", json={"to": "+972502345678", "message": "y", "sessionId": "worker_1", "sendAt": later}
        )
    ).json()
    assert (await running.api.delete("/api/sessions/worker_1")).status_code == 200
    first = (await running.api.get(f"/api/v1/messages/{queued['messageId']}")).json()
    assert (first["status"], first["error"]) == ("failed", "session deleted")
    await asyncio.sleep(0.6)
    second = (await running.api.get(f"/api/v1/messages/{scheduled['messageId']}")).json()
    assert (second["status"], second["error"]) == ("failed", "session deleted")
