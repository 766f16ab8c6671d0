"""Forwarding to a real local receiver: signed, in order per session, retried with backoff, given up into the
failed list."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from event_receiver import EventReceiver
from support import eventually

from waorch.clock import SystemClock
from waorch.core.forwarder import Forwarder, RetryPolicy
from waorch.core.inbox import Inbox
from waorch.core.keys import FORWARD_DUE, forward_lane
from waorch.core.outbox import Outbox
from waorch.core.proxy_pool import ProxyPool
from waorch.core.sessions import SessionStore, Status

SECRET = "events-secret-0123456789abcdef"
FAST = RetryPolicy(first_delay=0.05, max_delay=0.2, max_attempts=3)
Start = Callable[..., Forwarder]


@pytest.fixture
async def inbox(redis: aioredis.Redis) -> Inbox:
    pool = ProxyPool(redis, SystemClock(), 4, 4, 60000, "test-proxy-id-key")
    for _ in range(2):
        await pool.provision({"status": "connected", "created": "0", "generation": "0"}, None, None)
    return Inbox(redis, SystemClock(), 100, Outbox(redis, SystemClock()))


@pytest.fixture
async def start(redis: aioredis.Redis, receiver: EventReceiver) -> AsyncIterator[Start]:
    """``start(policy=FAST, **options)`` runs a forwarder to the receiver until the test ends."""
    stopping = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    def run(policy: RetryPolicy = FAST, **options: float) -> Forwarder:
        forwarder = Forwarder(
            Outbox(redis, SystemClock()), receiver.url, SECRET, policy, **{"timeout": 2.0, "poll": 0.02, **options}
        )
        tasks.append(asyncio.ensure_future(forwarder.run_forever(stopping)))
        return forwarder

    yield run
    stopping.set()
    await asyncio.gather(*tasks)


def message(n: int, text: str = "hi") -> dict:
    return {"from": "972502222222", "text": f"{text} {n}", "waId": f"WA{n}", "timestamp": 1700000000 + n}


async def test_message_forwarded_signed(
    inbox: Inbox, receiver: EventReceiver, start: Start, redis: aioredis.Redis
) -> None:
    start()
    stored = await inbox.add("worker_1", message(1, "שלום 🌍"))
    [event] = await receiver.wait_for(1)
    assert event["type"] == "message" and event["sessionId"] == "worker_1" and event["data"] == stored
    assert abs(event["timestamp"] / 1000 - time.time()) < 5
    assert receiver.received[0].verified(SECRET) and receiver.received[0].headers["webhook-id"] == event["id"]
    await eventually(lambda: _outbox_empty(redis))


async def _outbox_empty(redis: aioredis.Redis) -> bool:
    return not await redis.exists(forward_lane("worker_1"), forward_lane("worker_2"), FORWARD_DUE)


async def test_receiver_down_then_up_gets_everything_in_order(
    inbox: Inbox, receiver: EventReceiver, start: Start
) -> None:
    await receiver.stop()
    start(RetryPolicy(first_delay=0.05, max_delay=0.1, max_attempts=1000))
    for n in range(1, 6):
        await inbox.add("worker_1", message(n))
    await asyncio.sleep(0.4)  # several refused attempts
    await receiver.start()
    events = await receiver.wait_for(5)
    await asyncio.sleep(0.2)
    assert [e["data"]["text"] for e in receiver.events()] == [f"hi {n}" for n in range(1, 6)]
    assert all(r.verified(SECRET) for r in receiver.received) and len({e["id"] for e in events}) == 5


async def test_always_failing_delivery_ends_in_the_failed_list(
    inbox: Inbox, receiver: EventReceiver, start: Start, redis: aioredis.Redis
) -> None:
    receiver.status = 503
    start()
    stored = await inbox.add("worker_1", message(1))
    attempts = await receiver.wait_for(3)
    outbox = Outbox(redis, SystemClock())
    [failed] = await eventually(lambda: outbox.failed(10))
    assert failed["attempts"] == 3 and failed["error"] == "HTTP 503" and failed["delivery"]["data"] == stored
    assert len({a["id"] for a in attempts}) == 1 and failed["delivery"]["id"] == attempts[0]["id"]
    await asyncio.sleep(0.3)
    assert len(receiver.received) == 3 and await outbox.pending() == 0
    receiver.status = 200
    await inbox.add("worker_1", message(2))  # the lane goes on after a given-up event
    assert (await receiver.wait_for(4))[-1]["data"]["text"] == "hi 2"


async def test_old_event_is_given_up_after_one_failure(
    inbox: Inbox, receiver: EventReceiver, start: Start, redis: aioredis.Redis
) -> None:
    receiver.status = 500
    start(RetryPolicy(first_delay=0.05, max_attempts=100, max_age=0.0))
    await inbox.add("worker_1", message(1))
    [failed] = await eventually(lambda: Outbox(redis, SystemClock()).failed(10))
    assert failed["attempts"] == 1 and len(receiver.received) == 1


async def test_failing_session_does_not_hold_up_another(
    inbox: Inbox, receiver: EventReceiver, start: Start, redis: aioredis.Redis
) -> None:
    receiver.failing = {"worker_1"}
    start(RetryPolicy(first_delay=5.0, max_attempts=10))
    await inbox.add("worker_1", message(1))
    await inbox.add("worker_1", message(2))
    for n in range(3, 6):
        await inbox.add("worker_2", message(n))
    delivered = await receiver.wait_for(4)
    assert [e["data"]["text"] for e in delivered if e["sessionId"] == "worker_2"] == ["hi 3", "hi 4", "hi 5"]
    assert [e["data"]["text"] for e in delivered if e["sessionId"] == "worker_1"] == ["hi 1"]  # waits, in order
    # the receiver records a request before it answers, so the last delivery may still be unacknowledged
    await eventually(lambda: _equals(Outbox(redis, SystemClock()).pending(), 2))


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def test_timeout_counts_as_a_failed_attempt(
    inbox: Inbox, receiver: EventReceiver, start: Start, redis: aioredis.Redis
) -> None:
    receiver.delay = 10.0
    start(RetryPolicy(first_delay=0.05, max_attempts=2), timeout=0.2)
    await inbox.add("worker_1", message(1))
    [failed] = await eventually(lambda: Outbox(redis, SystemClock()).failed(10))
    assert failed["attempts"] == 2 and failed["error"].startswith("ReadTimeout")


async def test_status_changes_forwarded_without_repeats(
    redis: aioredis.Redis, receiver: EventReceiver, start: Start, inbox: Inbox
) -> None:
    store = SessionStore(redis, SystemClock())
    store.status_listeners.append(Outbox(redis, SystemClock()).status_changed)
    start()
    for _ in range(3):  # a rotating QR code sets qr_ready again and again
        await store.set_status("worker_1", Status.QR_READY, qr="ref,a,b,c")
    await store.set_status("worker_1", Status.CONNECTED)
    await inbox.add("worker_1", message(1))
    await store.set_status("worker_1", Status.DISCONNECTED, "temporary_ban: banned for 1 h")
    await store.set_status("worker_9", Status.CONNECTED)  # no such session: nothing
    events = await receiver.wait_for(4)
    await asyncio.sleep(0.2)
    assert [(e["type"], e["data"].get("status")) for e in receiver.events()] == [
        ("session.status", "qr_ready"),
        ("session.status", "connected"),
        ("message", None),
        ("session.status", "disconnected"),
    ]
    assert events[0]["data"] == {"status": "qr_ready", "reason": None}
    assert events[3]["data"] == {"status": "disconnected", "reason": "temporary_ban: banned for 1 h"}


async def test_stop_flag_ends_the_loop_and_keeps_what_was_in_flight(
    inbox: Inbox, receiver: EventReceiver, redis: aioredis.Redis
) -> None:
    receiver.delay = 10.0
    stopping = asyncio.Event()
    task = asyncio.ensure_future(
        Forwarder(Outbox(redis, SystemClock()), receiver.url, SECRET, poll=0.02).run_forever(stopping)
    )
    await inbox.add("worker_1", message(1))
    await receiver.wait_for(1)
    stopping.set()
    await asyncio.wait_for(task, 1.0)
    assert await redis.llen(forward_lane("worker_1")) == 1  # not lost: delivered again once its lease ends


def test_retry_policy_backs_off_exponentially_to_a_cap() -> None:
    policy = RetryPolicy()
    assert [policy.delay(n) for n in range(1, 11)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]
    assert not policy.exhausted(299, 3600) and policy.exhausted(300, 0) and policy.exhausted(1, 24 * 3600)
