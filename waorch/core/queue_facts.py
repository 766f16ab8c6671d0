"""Queue depth and today's counters of many sessions in one Redis round trip (for views of the whole fleet).

The key names are those :mod:`waorch.core.messages` writes (``queue:{sid}``, ``count:{sid}:{day}``).
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from waorch.core.keys import PREFIX

COUNTERS = ("queued", "sent", "failed", "unknown")


def queue(session_id: str) -> str:
    """List of the messages waiting in a session's queue, head first."""
    return f"{PREFIX}queue:{session_id}"


def day_counts(session_id: str, day: str) -> str:
    """Hash of a session's counters for one local day (``queued``, ``sent``, ``failed``, ``unknown``)."""
    return f"{PREFIX}count:{session_id}:{day}"


@dataclass(frozen=True)
class QueueFacts:
    """One session's queue depth and its counters for the day."""

    depth: int
    counts: dict[str, int]


async def queue_facts(redis: aioredis.Redis, session_ids: list[str], day: str) -> dict[str, QueueFacts]:
    """Depth and the ``day``'s counters of every session in ``session_ids``, read in one pipeline."""
    async with redis.pipeline(transaction=False) as pipe:
        for sid in session_ids:
            pipe.llen(queue(sid))
            pipe.hmget(day_counts(sid, day), *COUNTERS)
        answers = await pipe.execute()
    return {sid: QueueFacts(int(depth), {name: int(value or 0) for name, value in zip(COUNTERS, counts, strict=True)})
            for sid, depth, counts in zip(session_ids, answers[::2], answers[1::2], strict=True)}
