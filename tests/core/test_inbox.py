"""The inbox on the real Redis: newest first, bounded, deduplicated by waId, paged, dropped with its session."""

from __future__ import annotations

import json

import pytest
import redis.asyncio as aioredis

from waorch.clock import SystemClock
from waorch.core.inbox import TEXT_LIMIT, Inbox
from waorch.core.keys import forward_lane
from waorch.core.outbox import Outbox
from waorch.core.proxy_pool import ProxyPool
from waorch.errors import BadRequest

SENDER = "972502222222"


@pytest.fixture
async def pool(redis: aioredis.Redis) -> ProxyPool:
    pool = ProxyPool(redis, SystemClock(), 4, 4, 60000, "test-proxy-id-key")
    await pool.provision({"status": "connected", "created": "0", "generation": "0"}, None, None)
    return pool


def incoming(n: int, text: str = "hello") -> dict:
    return {
        "from": SENDER,
        "chat": SENDER,
        "text": f"{text} {n}",
        "waId": f"3EB0{n:018X}",
        "timestamp": 1700000000.5 + n,
    }


async def test_message_kept_with_its_fields(redis: aioredis.Redis, pool: ProxyPool) -> None:
    inbox = Inbox(redis, SystemClock(), 10)
    text = "שלום עולם 👋🏽 — מה נשמע? 🇮🇱"
    stored = await inbox.add("worker_1", {"from": SENDER, "text": text, "waId": "3EB0AA", "timestamp": 1700000000.25})
    assert stored is not None
    assert stored == {
        "id": 1,
        "sessionId": "worker_1",
        "from": SENDER,
        "chat": SENDER,
        "text": text,
        "truncated": False,
        "waId": "3EB0AA",
        "timestamp": 1700000000.25,
        "receivedAt": stored["receivedAt"],
    }
    assert await inbox.page("worker_1", 10) == [stored]


async def test_newest_first_and_bounded(redis: aioredis.Redis, pool: ProxyPool) -> None:
    inbox = Inbox(redis, SystemClock(), 5)
    for n in range(1, 9):
        await inbox.add("worker_1", incoming(n))
    page = await inbox.page("worker_1", 100)
    assert [m["id"] for m in page] == [8, 7, 6, 5, 4]
    assert [m["text"] for m in page] == [f"hello {n}" for n in (8, 7, 6, 5, 4)]
    assert await redis.zcard("waorch:session:worker_1:inbox:ids") == 5


async def test_duplicate_wa_id_is_kept_once(redis: aioredis.Redis, pool: ProxyPool) -> None:
    inbox = Inbox(redis, SystemClock(), 10, Outbox(redis, SystemClock()))
    assert await inbox.add("worker_1", incoming(1)) is not None
    assert await inbox.add("worker_1", {**incoming(1), "text": "retried"}) is None
    assert [m["text"] for m in await inbox.page("worker_1", 10)] == ["hello 1"]
    assert await redis.llen(forward_lane("worker_1")) == 1  # forwarded once too


async def test_paging_with_before(redis: aioredis.Redis, pool: ProxyPool) -> None:
    inbox = Inbox(redis, SystemClock(), 100)
    for n in range(1, 8):
        await inbox.add("worker_1", incoming(n))
    first = await inbox.page("worker_1", 3)
    second = await inbox.page("worker_1", 3, before=first[-1]["id"])
    third = await inbox.page("worker_1", 3, before=second[-1]["id"])
    assert [[m["id"] for m in page] for page in (first, second, third)] == [[7, 6, 5], [4, 3, 2], [1]]


async def test_forwarded_message_is_the_stored_one(redis: aioredis.Redis, pool: ProxyPool) -> None:
    inbox = Inbox(redis, SystemClock(), 10, Outbox(redis, SystemClock()))
    stored = await inbox.add("worker_1", incoming(1, "✓ עברית"))
    body = json.loads(await redis.lindex(forward_lane("worker_1"), 0))
    assert body["type"] == "message" and body["sessionId"] == "worker_1" and body["data"] == stored
    assert body["id"].startswith("evt_") and isinstance(body["timestamp"], int)


async def test_unknown_or_deleted_session_keeps_nothing(redis: aioredis.Redis, pool: ProxyPool) -> None:
    inbox = Inbox(redis, SystemClock(), 10, Outbox(redis, SystemClock()))
    await inbox.add("worker_1", incoming(1))
    await pool.release("worker_1")
    assert await inbox.page("worker_1", 10) == []
    assert await inbox.add("worker_1", incoming(2)) is None  # a late event does not resurrect it
    assert await inbox.add("worker_9", incoming(3)) is None
    assert await redis.keys("waorch:session:*") == ["waorch:session:counter"]


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"from": SENDER, "text": "x"},
        {"from": SENDER, "waId": "A"},
        {"text": "x", "waId": "A"},
        {"from": 5, "text": "x", "waId": "A"},
        {"from": SENDER, "text": None, "waId": "A"},
        {"from": SENDER, "text": "x", "waId": "A" * 129},
    ],
)
async def test_malformed_message_is_refused(redis: aioredis.Redis, pool: ProxyPool, data: dict) -> None:
    with pytest.raises(BadRequest):
        await Inbox(redis, SystemClock(), 10).add("worker_1", data)
    assert await Inbox(redis, SystemClock(), 10).page("worker_1", 10) == []


async def test_missing_chat_and_timestamp_get_defaults(redis: aioredis.Redis, pool: ProxyPool) -> None:
    stored = await Inbox(redis, SystemClock(), 10).add(
        "worker_1", {"from": SENDER, "text": "", "waId": "X1", "timestamp": True}
    )
    assert stored is not None and stored["chat"] == SENDER and stored["timestamp"] == stored["receivedAt"]


async def test_a_long_text_is_kept_cut_and_marked(redis: aioredis.Redis, pool: ProxyPool) -> None:
    inbox = Inbox(redis, SystemClock(), 10, Outbox(redis, SystemClock()))
    long_text = "א" * 70_000  # a stranger can send about 64 KB
    stored = await inbox.add("worker_1", {**incoming(1), "text": long_text})
    exact = await inbox.add("worker_1", {**incoming(2), "text": "x" * TEXT_LIMIT})
    assert stored is not None and exact is not None
    assert (stored["text"], stored["truncated"]) == (long_text[:TEXT_LIMIT], True)
    assert (len(exact["text"]), exact["truncated"]) == (TEXT_LIMIT, False)
    assert [m["truncated"] for m in await inbox.page("worker_1", 10)] == [False, True]
    assert json.loads(await redis.lindex(forward_lane("worker_1"), 0))["data"] == stored  # forwarded as kept
    assert await redis.memory_usage("waorch:session:worker_1:inbox") < 3 * 4 * TEXT_LIMIT
