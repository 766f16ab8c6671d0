"""Dispatch precision: N connected sim sessions on the hot tier, sending for a while.

Real parts: ``waorch sim`` (own process), one worker process per session (process runner, sim
engine), the embedded Valkey; the core runs in this process so its CPU can be measured. Every
session gets more messages than it can send in the window. Prints p50/p99 of (actual send start −
scheduled send time) and the orchestrator's CPU share. Target: p99 < 50 ms.

The hot tier's limits are used as they are, with active hours widened to the whole day so the
run does not depend on the time of day.

    .venv/bin/python benchmarks/dispatch.py [--sessions 200] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import replace

import psutil
from common import pair_all, percentile, sim_fleet

from waorch.core.intake import SendRequest
from waorch.core.tiers import DEFAULT_TIERS

MESSAGES_PER_SESSION = 40


async def main(count: int, seconds: float) -> None:
    async with sim_fleet() as (core, sim_url):
        hot = replace(DEFAULT_TIERS[2], hours_start="00:00", hours_end="24:00", min_age_days=0)
        await core.replace_tiers([hot])
        started = time.monotonic()
        ids = [(await core.provision()).id for _ in range(count)]
        await pair_all(core.store, sim_url, ids)
        print(f"{count} sessions provisioned and connected in {time.monotonic() - started:.0f} s")
        for n in range(MESSAGES_PER_SESSION):
            for sid in ids:
                await core.intake.accept(SendRequest("972522222222", f"benchmark {n}", sid, None))
        await measure(core, seconds)


async def measure(core, seconds: float) -> None:
    me = psutil.Process()
    core.dispatcher.lateness.clear()
    cpu_before, wall_before = sum(me.cpu_times()[:2]), time.monotonic()
    await asyncio.sleep(seconds)
    cpu = sum(me.cpu_times()[:2]) - cpu_before
    wall = time.monotonic() - wall_before
    late = [value * 1000 for value in core.dispatcher.lateness]
    print(f"sends started in {wall:.0f} s: {len(late)} ({len(late) / wall:.1f}/s)")
    print(
        f"actual - scheduled send time: p50 {statistics.median(late):.1f} ms, p99 {percentile(late, 99):.1f} ms, "
        f"max {max(late):.1f} ms (target p99 < 50 ms)"
    )
    print(f"orchestrator CPU: {cpu / wall * 100:.1f}% of one core ({cpu:.1f} s CPU in {wall:.0f} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    asyncio.run(main(args.sessions, args.seconds))
