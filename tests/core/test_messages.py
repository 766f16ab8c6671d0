"""The message store on the real Redis. What sends leave in it is bounded: finished messages expire
(waiting and in-flight ones never do), the lists of dead and unknown messages and each session's
contacts keep the newest, a recipient's last sender is forgotten, and a deleted session's message
keys are removed."""

from __future__ import annotations

import time

import pytest
import redis.asyncio as aioredis
from support import eventually

from waorch.clock import SystemClock
from waorch.core.lease import CoreLease
from waorch.core.messages import Message, MessageStatus, MessageStore, Retention, new_message_id
from waorch.core.proxy_pool import ProxyPool
from waorch.core.tiers import DEFAULT_TIERS
from waorch.errors import MessageNotFound

DAY = "2026-01-01"


async def accept(store: MessageStore, session_id: str, to: str = "972522222222", send_at: float = 0.0) -> str:
    message = Message(
        new_message_id(), session_id, to, "hello", "", created=time.time(), send_at=send_at, count_day=DAY
    )
    await store.accept(message, DEFAULT_TIERS, time.time(), due=not send_at)
    return message.id


async def settle(store: MessageStore, session_id: str, outcome: MessageStatus, to: str = "972522222222") -> str:
    message_id = await accept(store, session_id, to)
    assert await store.start(session_id, message_id, time.time())
    assert await store.finish(session_id, message_id, time.time(), outcome, DAY)
    return message_id


async def test_a_finished_message_expires_and_a_waiting_or_sending_one_never_does(
    redis: aioredis.Redis, lease: CoreLease, sessions: list[str]
) -> None:
    store = MessageStore(redis, lease, Retention(message_s=1))
    sid = sessions[0]
    finished = await settle(store, sid, MessageStatus.SENT)
    sending = await accept(store, sid)
    waiting = await accept(store, sid)
    assert await store.start(sid, sending, time.time())
    assert 0 < await redis.ttl(f"waorch:msg:{finished}") <= 1

    async def expired() -> bool:
        return await store.find(finished) is None

    await eventually(expired, timeout=5)
    with pytest.raises(MessageNotFound):
        await store.get(finished)
    assert await redis.ttl(f"waorch:msg:{sending}") == -1 and await redis.ttl(f"waorch:msg:{waiting}") == -1
    assert (await store.get(sending)).status == "sending" and await store.inflight(sid) == [sending]


async def test_an_unknown_outcome_settled_later_keeps_its_retention(
    redis: aioredis.Redis, lease: CoreLease, sessions: list[str]
) -> None:
    store = MessageStore(redis, lease, Retention(message_s=600))
    message_id = await settle(store, sessions[0], MessageStatus.UNKNOWN)
    await redis.persist(f"waorch:msg:{message_id}")
    assert await store.finish(sessions[0], message_id, time.time(), MessageStatus.SENT, DAY, wa_id="W1")
    assert (await store.get(message_id)).status == "sent"
    assert 0 < await redis.ttl(f"waorch:msg:{message_id}") <= 600
    assert await redis.lrange("waorch:unknown", 0, -1) == []


async def test_the_lists_of_dead_and_unknown_messages_keep_the_newest(
    redis: aioredis.Redis, lease: CoreLease, sessions: list[str]
) -> None:
    store = MessageStore(redis, lease, Retention(list_limit=3))
    dead = [await settle(store, sessions[0], MessageStatus.DEAD) for _ in range(5)]
    unknown = [await settle(store, sessions[0], MessageStatus.UNKNOWN) for _ in range(4)]
    assert await redis.lrange("waorch:dead", 0, -1) == dead[-3:]
    assert await redis.lrange("waorch:unknown", 0, -1) == unknown[-3:]


async def test_a_session_keeps_its_newest_contacts_and_a_last_sender_is_forgotten(
    redis: aioredis.Redis, lease: CoreLease, sessions: list[str]
) -> None:
    store = MessageStore(redis, lease, Retention(contacts_per_session=2, contact_s=1))
    recipients = ["972521111111", "972522222222", "972523333333"]
    for to in recipients:
        await settle(store, sessions[0], MessageStatus.SENT, to)
    assert [await store.contact_of([sessions[0]], to) == {sessions[0]} for to in recipients] == [False, True, True]
    assert await store.last_sender(recipients[-1]) == sessions[0]

    async def forgotten() -> bool:
        return all([await store.last_sender(to) is None for to in recipients])

    await eventually(forgotten, timeout=5)


async def test_forgetting_a_session_removes_its_keys_and_fails_its_waiting_messages(
    redis: aioredis.Redis, lease: CoreLease, sessions: list[str]
) -> None:
    store = MessageStore(redis, lease, Retention(message_s=600))
    gone, kept = sessions
    for sid in sessions:
        await settle(store, sid, MessageStatus.SENT, "972521111111" if sid == gone else "972522222222")
    scheduled = await accept(store, gone, send_at=time.time() + 3600)
    waiting = await accept(store, gone)
    other_scheduled = await accept(store, kept, send_at=time.time() + 3600)
    await ProxyPool(redis, SystemClock(), 4, 4, 60000, "test-proxy-id-key").release(gone)
    await store.forget_session(gone, time.time())
    assert [key async for key in redis.scan_iter(match=f"*{gone}*")] == []
    assert gone not in await redis.smembers("waorch:queues") and await store.last_sender("972521111111") is None
    for message_id in (scheduled, waiting):
        message = await store.get(message_id)
        assert (message.status, message.error) == ("failed", "session deleted")
        assert 0 < await redis.ttl(f"waorch:msg:{message_id}") <= 600
    assert await redis.zrange("waorch:outbox", 0, -1) == [other_scheduled]
    assert await store.last_sender("972522222222") == kept and await store.contact_of([kept], "972522222222") == {kept}
