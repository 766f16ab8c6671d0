"""The session store on the real Redis: a status change keeps its reason and what to check, lands in the
bounded history and is told to listeners; a late change never brings a deleted session back; a dead
worker's address is forgotten only while that worker is still the session's."""

from __future__ import annotations

import redis.asyncio as aioredis

from waorch.clock import SystemClock
from waorch.core import keys
from waorch.core.sessions import HISTORY_LENGTH, SessionStore, Status


async def test_a_status_change_keeps_reason_and_hint_and_is_recorded_and_told(
    redis: aioredis.Redis, sessions: list[str]
) -> None:
    store, told = SessionStore(redis, SystemClock()), []

    async def listener(session_id: str, status: Status, reason: str) -> None:
        told.append((session_id, status, reason))

    store.status_listeners.append(listener)
    sid = sessions[0]
    assert await store.set_status(sid, Status.FAILED, "proxy refused", "check the proxy's password", restarts=3)
    session = await store.get(sid)
    assert (session.status, session.reason, session.hint, session.restarts) == (
        "failed",
        "proxy refused",
        "check the proxy's password",
        3,
    )
    assert await store.set_status(sid, Status.CONNECTED)
    session = await store.get(sid)
    assert (session.status, session.reason, session.hint) == ("connected", "", "")  # a new status clears both
    assert [(entry["kind"], entry["status"], entry["reason"]) for entry in await store.history(sid)] == [
        ("status", "connected", ""),
        ("status", "failed", "proxy refused"),
    ]  # newest first
    assert told == [(sid, Status.FAILED, "proxy refused"), (sid, Status.CONNECTED, "")]
    assert (await store.count_by_status())["connected"] == 2


async def test_a_late_change_never_brings_a_deleted_session_back(redis: aioredis.Redis) -> None:
    store, told = SessionStore(redis, SystemClock()), []

    async def listener(session_id: str, status: Status, reason: str) -> None:
        told.append(session_id)

    store.status_listeners.append(listener)
    assert not await store.set_status("worker_gone", Status.CONNECTED)
    assert not await store.update("worker_gone", last_ping=1.0)
    assert await store.find("worker_gone") is None and told == []
    assert await redis.exists(keys.session("worker_gone"), keys.session_history("worker_gone")) == 0


async def test_the_history_keeps_the_newest_entries(redis: aioredis.Redis, sessions: list[str]) -> None:
    store = SessionStore(redis, SystemClock())
    for n in range(HISTORY_LENGTH + 5):
        await store.record(sessions[0], "restart", {"n": n})
    history = await store.history(sessions[0])
    assert [entry["n"] for entry in history] == list(range(HISTORY_LENGTH + 4, 4, -1))


async def test_a_dead_workers_address_is_forgotten_only_while_it_is_the_sessions(
    redis: aioredis.Redis, sessions: list[str]
) -> None:
    store = SessionStore(redis, SystemClock())
    sid = sessions[0]
    await store.update(sid, worker="101:aa", command_url="http://127.0.0.1:4001")
    assert not await store.forget_command_address(sid, "99:old")  # another worker took its place
    assert (await store.get(sid)).command_url == "http://127.0.0.1:4001"
    assert await store.forget_command_address(sid, "101:aa")
    assert (await store.get(sid)).command_url == ""
