"""The Redis keys: what an earlier version stored reads the same after an upgrade.

The data below is written the way waorch wrote it before every key moved into ``core/keys.py``
(the names spelled out here on purpose, as they are on users' machines; hashes without the fields
later versions added), then a core starts on it: the fleet, its queues, its counters, its tiers and
its history are all there, and a scheduled message still goes into its queue when due.
"""

from __future__ import annotations

import json
import time
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from support import RunningService, eventually

from waorch.core.pacing import local_day

SESSION = "worker_7"
TIER = {
    "name": "steady",
    "min_age_days": 0,
    "daily_limit": 42,
    "per_minute": 3,
    "delay_min_ms": 1000,
    "delay_max_ms": 2000,
    "hours_start": "00:00",
    "hours_end": "24:00",
}


async def store_as_before(redis: aioredis.Redis, day: str) -> None:
    """A logged-out session (nothing restarts it) with a waiting, a scheduled and a sent message."""
    now = time.time()
    await redis.set("waorch:session:counter", 7)
    await redis.zadd("waorch:sessions", {SESSION: 7})
    await redis.hset(
        f"waorch:session:{SESSION}",
        mapping={
            "id": SESSION,
            "status": "logged_out",
            "proxy": "",
            "phone": "972501111111",
            "created": now - 86400,
            "first_connected": now - 86000,
            "tier_pin": "steady",
            "paused": "1",
            "restarts": "2",
            "generation": "3",
            "reason": "logged out on the phone",
            "retired_field": "kept by a version long gone",
        },
    )
    await redis.sadd("waorch:phone:972501111111:sessions", SESSION)
    entry = {"at": now - 60, "kind": "status", "status": "logged_out"}
    await redis.lpush(f"waorch:session:{SESSION}:history", json.dumps(entry))
    await redis.set("waorch:tiers", json.dumps([TIER]))
    await redis.hset(
        "waorch:msg:msg_waiting",
        mapping={
            "id": "msg_waiting",
            "session": SESSION,
            "to": "972502222222",
            "text": "still waiting",
            "created": now - 30,
            "send_at": "0",
            "count_day": day,
            "attempts": "1",
            "status": "queued",
            "error": "worker unreachable",
        },
    )
    await redis.rpush(f"waorch:queue:{SESSION}", "msg_waiting")
    await redis.sadd("waorch:queues", SESSION)
    await redis.hset(
        "waorch:msg:msg_later",
        mapping={
            "id": "msg_later",
            "session": SESSION,
            "to": "972503333333",
            "text": "later",
            "created": now - 20,
            "send_at": now + 1,
            "count_day": day,
            "attempts": "0",
            "status": "scheduled",
        },
    )
    await redis.zadd("waorch:outbox", {"msg_later": now + 1})
    await redis.hset(f"waorch:count:{SESSION}:{day}", mapping={"queued": 2, "sent": 5, "failed": 1})
    await redis.zadd(f"waorch:contacted:{SESSION}", {"972502222222": now - 100})
    await redis.set("waorch:contact:972502222222", SESSION)


async def test_a_fleet_stored_by_an_earlier_version_reads_the_same(start_service, redis: aioredis.Redis) -> None:
    day = local_day(time.time(), ZoneInfo("UTC"))
    await store_as_before(redis, day)
    running: RunningService = await start_service(TIMEZONE="UTC")
    api = running.api

    session = (await api.get(f"/api/sessions/{SESSION}")).json()
    assert (session["status"], session["phone"], session["tierPin"], session["paused"], session["restarts"]) == (
        "logged_out",
        "972501111111",
        "steady",
        True,
        2,
    )
    assert [entry["status"] for entry in session["history"]] == ["logged_out"]
    assert (await api.get("/api/trust-tiers")).json()["tiers"][0]["dailyLimit"] == 42
    waiting = (await api.get("/api/v1/messages/msg_waiting")).json()
    assert (waiting["status"], waiting["attempts"], waiting["error"]) == ("queued", 1, "worker unreachable")
    queue = (await api.get(f"/api/sessions/{SESSION}/queue")).json()
    assert (queue["depth"], queue["daily"]["queued"], queue["daily"]["sent"], queue["daily"]["limit"]) == (1, 2, 5, 42)
    rows = await running.core.fleet.rows(day)
    assert [(row.id, row.depth, row.sent, row.failed) for row in rows] == [(SESSION, 1, 5, 1)]
    assert await running.core.messages.last_sender("972502222222") == SESSION

    async def promoted() -> bool:
        return (await api.get("/api/v1/messages/msg_later")).json()["status"] == "queued"

    await eventually(promoted)
    assert (await api.get(f"/api/sessions/{SESSION}/queue")).json()["depth"] == 2
    provisioned = (await api.post("/api/sessions/provision", json={})).json()
    assert provisioned["sessionId"] == "worker_8"
