"""Redis stops growing, end to end: a deleted session leaves no key (nor a member of a shared key)
naming it, and a finished message is gone after MESSAGE_RETENTION_DAYS (404) while a waiting one stays."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import redis.asyncio as aioredis
from support import RunningService, conforms, eventually, free_port
from test_sending import FAST, connected_session, delivered

from waorch.core import keys
from waorch.sim.server import SimServer

SENDER = "972509999999"
HISTORY = {keys.ACTIVITY, keys.ALERTS}  # what happened, kept as history (capped)


async def values_of(redis: aioredis.Redis, key: str) -> list[str]:
    """Every string a key holds: its value, members, fields and values, or stream entries."""
    kind = await redis.type(key)
    if kind == "string":
        return [await redis.get(key) or ""]
    if kind == "list":
        return await redis.lrange(key, 0, -1)
    if kind == "set":
        return list(await redis.smembers(key))
    if kind == "zset":
        return await redis.zrange(key, 0, -1)
    if kind == "hash":
        return [text for pair in (await redis.hgetall(key)).items() for text in pair]
    return [text for _, fields in await redis.xrange(key) for pair in fields.items() for text in pair]


async def naming(redis: aioredis.Redis, session_id: str) -> dict[str, str]:
    """Keys that name the session or hold a string naming it (``worker_1`` is not ``worker_10``),
    with why; messages that keep a retention are left out: they are history that expires."""
    word = re.compile(rf"\b{session_id}\b")
    found: dict[str, str] = {}
    async for key in redis.scan_iter(count=1000):
        if session_id in key.split(":"):
            found[key] = "name"
        elif key not in HISTORY and any(word.search(text) for text in await values_of(redis, key)):
            expiring = key.startswith("waorch:msg:") and await redis.ttl(key) > 0
            if not expiring:
                found[key] = "value"
    return found


async def sim_incoming(sim_url: str, phone: str, text: str) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        assert (
            await client.post(f"{sim_url}/sim/phones/{phone}/incoming", json={"from": SENDER, "text": text})
        ).status_code == 200


async def test_a_deleted_session_leaves_nothing_naming_it_in_redis(start_service, sim: SimServer) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}/events"  # forwarded events wait in their lanes
    running: RunningService = await start_service(EVENTS_WEBHOOK_URL=unreachable)
    api = running.api
    assert (await api.put("/api/trust-tiers", json={"tiers": [FAST]})).status_code == 200
    gone = await connected_session(running, sim.url, "972501111111")
    kept = await connected_session(running, sim.url, "972501111112")
    for sid, to in ((gone, "+972502345678"), (kept, "+972522222222")):
        assert (await api.post("/api/v1/send", json={"to": to, "message": "hi", "sessionId": sid})).status_code == 202
    await eventually(lambda: delivered(sim.url, "972501111111"))
    await eventually(lambda: delivered(sim.url, "972501111112"))
    await sim_incoming(sim.url, "972501111111", "hello there")
    await eventually(lambda: running.core.inbox.page(gone, 10))
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    scheduled = await api.post(
        "/api/v1/send", json={"to": "+972502345678", "message": "later", "sessionId": gone, "sendAt": later}
    )
    assert (await api.post(f"/api/sessions/{gone}/queue/pause")).status_code == 200
    assert (
        await api.post("/api/v1/send", json={"to": "+972502345678", "message": "waits", "sessionId": gone})
    ).status_code == 202
    assert await naming(running.core.redis, gone), "the scan sees the session's keys before the delete"

    assert (await api.delete(f"/api/sessions/{gone}")).status_code == 200
    assert await naming(running.core.redis, gone) == {}
    assert "waorch:session:" + kept in await naming(running.core.redis, kept)
    answer = await api.get(f"/api/v1/messages/{scheduled.json()['messageId']}")
    assert (answer.json()["status"], answer.json()["error"]) == ("failed", "session deleted")


async def test_a_finished_message_is_gone_after_the_retention_and_a_waiting_one_stays(
    start_service, sim: SimServer
) -> None:
    running: RunningService = await start_service(MESSAGE_RETENTION_DAYS=str(2 / 86400))  # 2 s
    api = running.api
    assert (await api.put("/api/trust-tiers", json={"tiers": [FAST]})).status_code == 200
    sid = await connected_session(running, sim.url)
    sent = (await api.post("/api/v1/send", json={"to": "+972522222222", "message": "hi", "sessionId": sid})).json()[
        "messageId"
    ]

    async def status_of(message_id: str) -> str:
        return (await api.get(f"/api/v1/messages/{message_id}")).json().get("status", "")

    async def settled() -> bool:
        return await status_of(sent) == "sent"

    await eventually(settled)
    assert (await api.post(f"/api/sessions/{sid}/queue/pause")).status_code == 200
    waiting = (
        await api.post("/api/v1/send", json={"to": "+972522222222", "message": "waits", "sessionId": sid})
    ).json()["messageId"]

    async def gone() -> httpx.Response | None:
        answer = await api.get(f"/api/v1/messages/{sent}")
        return answer if answer.status_code == 404 else None

    answer = await eventually(gone, timeout=10)
    assert answer.json()["error"] == "MESSAGE_NOT_FOUND"
    conforms("GET", "/api/v1/messages/{id}", answer)
    assert await status_of(waiting) == "queued" and await running.core.redis.ttl(f"waorch:msg:{waiting}") == -1
