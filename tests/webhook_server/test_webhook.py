"""The worker webhook verifies before parsing: forged, foreign, stale and replayed events change nothing."""

from __future__ import annotations

import json
import time

import pytest
from support import RunningService

from waorch.signing import SESSION_HEADER, sign, webhook_key

SECRET = "test-webhook-secret-0123456789"


def qr_event(session_id: str, qr: str = "ref,noise,identity,adv") -> bytes:
    return json.dumps(
        {
            "sessionId": session_id,
            "type": "QR_CODE",
            "generation": 0,
            "timestamp": int(time.time() * 1000),
            "data": {"qr": qr, "expiresAt": time.time() + 60, "ttl": 60},
        }
    ).encode()


async def post(running: RunningService, session_id: str, body: bytes, headers: dict[str, str]) -> int:
    response = await running.api.post("/webhook", content=body, headers={SESSION_HEADER: session_id, **headers})
    return response.status_code


@pytest.fixture
async def running(start_service) -> RunningService:
    running = await start_service()
    for _ in range(2):  # two sessions without workers: status "stopped" keeps the watchdog away
        await running.core.pool.provision({"status": "stopped", "created": "0", "generation": "0"}, None, None)
    return running


async def status_of(running: RunningService, session_id: str) -> str:
    return (await running.core.store.get(session_id)).status


async def test_valid_event_is_applied(running: RunningService) -> None:
    body = qr_event("worker_1")
    assert await post(running, "worker_1", body, sign(webhook_key(SECRET, "worker_1"), body)) == 200
    session = await running.core.store.get("worker_1")
    assert session.status == "qr_ready" and session.qr == "ref,noise,identity,adv"


async def test_tampered_body_is_refused(running: RunningService) -> None:
    headers = sign(webhook_key(SECRET, "worker_1"), qr_event("worker_1", "a,b,c,d"))
    assert await post(running, "worker_1", qr_event("worker_1", "x,y,z,w"), headers) == 401
    assert await status_of(running, "worker_1") == "stopped"


async def test_wrong_key_is_refused(running: RunningService) -> None:
    body = qr_event("worker_1")
    assert await post(running, "worker_1", body, sign("not-the-key", body)) == 401
    assert await status_of(running, "worker_1") == "stopped"


async def test_another_workers_key_cannot_speak_for_a_session(running: RunningService) -> None:
    body = qr_event("worker_1")
    other = webhook_key(SECRET, "worker_2")
    assert await post(running, "worker_1", body, sign(other, body)) == 401
    # Signed correctly by worker_2 but claiming to be about worker_1.
    assert await post(running, "worker_2", body, sign(other, body)) == 401
    assert await status_of(running, "worker_1") == "stopped"
    assert await status_of(running, "worker_2") == "stopped"


async def test_stale_timestamp_is_refused(running: RunningService) -> None:
    body = qr_event("worker_1")
    headers = sign(webhook_key(SECRET, "worker_1"), body, now=time.time() - 600)
    assert await post(running, "worker_1", body, headers) == 401
    assert await status_of(running, "worker_1") == "stopped"


async def test_replay_is_refused(running: RunningService) -> None:
    body = qr_event("worker_1")
    headers = sign(webhook_key(SECRET, "worker_1"), body)
    assert await post(running, "worker_1", body, headers) == 200
    await running.core.store.update("worker_1", status="stopped")
    assert await post(running, "worker_1", body, headers) == 401
    assert await status_of(running, "worker_1") == "stopped"


async def test_missing_headers_and_bad_json(running: RunningService) -> None:
    body = qr_event("worker_1")
    assert await post(running, "worker_1", body, {}) == 401
    garbage = b"{not json"
    assert await post(running, "worker_1", garbage, sign(webhook_key(SECRET, "worker_1"), garbage)) == 400
    unknown = json.dumps({"sessionId": "worker_1", "type": "NOPE", "data": {}}).encode()
    response = await running.api.post(
        "/webhook",
        content=unknown,
        headers={SESSION_HEADER: "worker_1", **sign(webhook_key(SECRET, "worker_1"), unknown)},
    )
    assert response.status_code == 400 and response.json()["error"] == "UNKNOWN_EVENT"
    assert await status_of(running, "worker_1") == "stopped"
