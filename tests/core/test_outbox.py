"""The outbox of forwarded events on the real Redis: a session's status changes are queued once each and
only while it exists; a claimed lane waits out its lease; a delivery drops its head and the next is due at
once; a retry counts the attempt and waits; given-up deliveries keep the newest up to the limit."""

from __future__ import annotations

import json

import redis.asyncio as aioredis
from support import eventually

from waorch.clock import SystemClock
from waorch.core import keys
from waorch.core.outbox import Claim, Outbox


def status_of(claim: Claim) -> str:
    return json.loads(claim.body)["data"]["status"]


async def test_a_status_change_is_queued_once_and_not_for_a_session_that_is_gone(
    redis: aioredis.Redis, sessions: list[str]
) -> None:
    outbox = Outbox(redis, SystemClock())
    sid = sessions[0]
    for status in ("qr_ready", "qr_ready", "connected", "connected"):  # a rotating QR repeats qr_ready
        await outbox.status_changed(sid, status, "")
    await outbox.status_changed(sid, "disconnected", "stream error")
    await outbox.status_changed(sid, "disconnected", "timeout")  # another reason: a change
    await outbox.status_changed("worker_gone", "connected", "")
    assert await outbox.pending() == 4
    assert await redis.exists(keys.forward_lane("worker_gone")) == 0


async def test_a_claimed_lane_waits_out_its_lease_then_its_head_is_claimed_again(
    redis: aioredis.Redis, sessions: list[str]
) -> None:
    outbox = Outbox(redis, SystemClock())
    await outbox.status_changed(sessions[0], "connected", "")
    [claim] = await outbox.claim(10, lease=0.3)
    assert (claim.session_id, status_of(claim), claim.attempts) == (sessions[0], "connected", 0)
    assert await outbox.claim(10, lease=0.3) == []  # a delivery is under way

    async def claimed_again() -> list[Claim]:
        return await outbox.claim(10, lease=0.3)

    [again] = await eventually(claimed_again, timeout=3)
    assert again.delivery_id == claim.delivery_id  # the same event, under the same id


async def test_a_delivered_head_is_dropped_and_the_next_is_due_at_once(
    redis: aioredis.Redis, sessions: list[str]
) -> None:
    outbox = Outbox(redis, SystemClock())
    await outbox.status_changed(sessions[0], "qr_ready", "")
    await outbox.status_changed(sessions[0], "connected", "")
    [first] = await outbox.claim(10, lease=60)
    await outbox.delivered(first)
    [second] = await outbox.claim(10, lease=60)
    assert (status_of(first), status_of(second)) == ("qr_ready", "connected")
    await outbox.delivered(second)
    assert await outbox.claim(10, lease=60) == [] and await outbox.pending() == 0
    assert await redis.zrange(keys.FORWARD_DUE, 0, -1) == []


async def test_a_retry_counts_the_attempt_and_waits_its_delay(redis: aioredis.Redis, sessions: list[str]) -> None:
    outbox = Outbox(redis, SystemClock())
    await outbox.status_changed(sessions[0], "connected", "")
    [claim] = await outbox.claim(10, lease=60)
    await outbox.retry_later(claim, 0.3)
    assert await outbox.claim(10, lease=60) == []

    async def due_again() -> list[Claim]:
        return await outbox.claim(10, lease=60)

    [again] = await eventually(due_again, timeout=3)
    assert (again.body, again.attempts) == (claim.body, 1)


async def test_given_up_deliveries_keep_the_newest_up_to_the_limit(redis: aioredis.Redis, sessions: list[str]) -> None:
    outbox = Outbox(redis, SystemClock(), failed_limit=2)
    for status in ("qr_ready", "connected", "disconnected"):
        await outbox.status_changed(sessions[0], status, "")
    for attempts in (0, 4, 7):
        [claim] = await outbox.claim(10, lease=60)
        await outbox.give_up(Claim(claim.session_id, claim.body, attempts), f"HTTP 500 after {attempts + 1}")
    failed = await outbox.failed(10)
    assert [(row["delivery"]["data"]["status"], row["attempts"], row["error"]) for row in failed] == [
        ("disconnected", 8, "HTTP 500 after 8"),
        ("connected", 5, "HTTP 500 after 5"),
    ]
    assert await outbox.pending() == 0


async def test_forgetting_a_session_drops_its_lane_and_its_schedule(redis: aioredis.Redis, sessions: list[str]) -> None:
    outbox = Outbox(redis, SystemClock())
    gone, kept = sessions
    for sid in sessions:
        await outbox.status_changed(sid, "connected", "")
    [claim, _] = sorted(await outbox.claim(10, lease=0.01), key=lambda claim: claim.session_id != gone)
    await outbox.retry_later(claim, 60)
    await outbox.forget_session(gone)
    assert await redis.exists(keys.forward_lane(gone)) == 0 and await redis.hget(keys.FORWARD_ATTEMPTS, gone) is None
    assert await redis.zrange(keys.FORWARD_DUE, 0, -1) == [kept] and await outbox.pending() == 1
