"""Redis memory per accepted message, and memory given back once finished messages expire.

Real parts: ``waorch sim`` (own process), one worker process per session (sim engine), the
embedded Valkey (private, in a temporary data dir); the core runs in this process on a clock 1000
times faster than real time, so typing and pacing take milliseconds (Redis's expiry is real time).
The sessions are paused while ``--messages`` messages (``--length`` characters, distinct
recipients) are accepted, then send them all. Prints ``used_memory`` (INFO memory) and the key
count: before, after accepting (bytes per queued message), after sending (bytes per finished
message, with its hash still kept), and after ``MESSAGE_RETENTION_DAYS`` (set to ``--retention``
seconds) has passed. What is left does not grow with the number of messages: per-session and
per-day state (counters, pacing, each session's capped contacts), one key per distinct recipient
(its last sender, kept 90 days; every message here has its own recipient, the worst case), and the
webhook's replay guards (10 minutes).

    .venv/bin/python benchmarks/retention.py [--messages 2000] [--sessions 4] [--retention 5]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from common import pair_all, sim_fleet

from waorch.clock import ScaledClock
from waorch.core import keys
from waorch.core.core import Core
from waorch.core.intake import SendRequest
from waorch.core.messages import Retention
from waorch.core.tiers import Tier

SCALE = 1000
CONTACT_DAYS = Retention().contact_s // 86400
# The most a tier may allow (tiers.py validates the table): pacing must not be what the figures measure.
TIER = Tier("bench", 0, 100_000, 1000, 0, 10, "00:00", "24:00", 100_000, 1000, 10_000)


async def memory(core: Core) -> tuple[int, int]:
    """``(used_memory bytes, keys)`` of the server."""
    return int((await core.redis.info("memory"))["used_memory"]), int(await core.redis.dbsize())


def show(stage: str, now: tuple[int, int], base: tuple[int, int], count: int) -> None:
    grown = now[0] - base[0]
    per = f", {grown / count:,.0f} B per message" if count else ""
    print(f"{stage:<28} used_memory {now[0] / 2**20:7.2f} MiB ({grown / 2**20:+7.2f} MiB{per}), {now[1]:,} keys")


async def accept_all(core: Core, ids: list[str], count: int, length: int) -> None:
    for n in range(count):
        to = f"97252{n % 10_000_000:07d}"
        await core.intake.accept(SendRequest(to, f"{n:06d} " + "x" * (length - 7), ids[n % len(ids)], None))


async def wait_until(check, timeout: float, what: str) -> float:  # noqa: ANN001
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what} not within {timeout:.0f} s")
        await asyncio.sleep(0.2)
    return time.monotonic() - started


async def run(core: Core, sim_url: str, args: argparse.Namespace) -> None:
    await core.replace_tiers([TIER])
    ids = [(await core.provision()).id for _ in range(args.sessions)]
    await pair_all(core.store, sim_url, ids)
    for sid in ids:
        await core.set_paused(sid, True)
    base = await memory(core)
    show("connected, nothing sent", base, base, 0)
    await accept_all(core, ids, args.messages, args.length)
    show(f"{args.messages:,} accepted (queued)", await memory(core), base, args.messages)
    for sid in ids:
        await core.set_paused(sid, False)

    async def all_sent() -> bool:
        return all([not await core.messages.depth(sid) and not await core.messages.inflight(sid) for sid in ids])

    took = await wait_until(all_sent, 300, "all sends")
    show(f"all sent ({took:.0f} s)", await memory(core), base, args.messages)

    async def expired() -> bool:
        return not [key async for key in core.redis.scan_iter(match=keys.message("*"), count=1000)]

    sent = await memory(core)
    waited = await wait_until(expired, args.retention + 60, "expiry")
    left = await memory(core)
    show(f"retention passed (+{waited:.0f} s)", left, base, 0)
    print(
        f"given back: {(sent[0] - left[0]) / 2**20:.2f} MiB of the {(sent[0] - base[0]) / 2**20:.2f} MiB the sends "
        f"took; left: contact keys (one per recipient, {CONTACT_DAYS} days), webhook replay guards (10 min), counters"
    )
    print("keys left:", ", ".join(f"{kind} {n:,}" for kind, n in sorted((await kinds(core)).items())))


async def kinds(core: Core) -> dict[str, int]:
    """Keys by kind (``waorch:contact``, ``waorch:count``, ...: the first two parts of the name)."""
    counted: dict[str, int] = {}
    async for key in core.redis.scan_iter(count=1000):
        kind = ":".join(key.split(":")[:2])
        counted[kind] = counted.get(kind, 0) + 1
    return counted


async def main(args: argparse.Namespace) -> None:
    async with sim_fleet(ScaledClock(SCALE), MESSAGE_RETENTION_DAYS=str(args.retention / 86400)) as (core, sim_url):
        await run(core, sim_url, args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--length", type=int, default=100, help="characters per message (at least 8)")
    parser.add_argument("--retention", type=float, default=5.0, help="MESSAGE_RETENTION_DAYS, in seconds")
    asyncio.run(main(parser.parse_args()))
