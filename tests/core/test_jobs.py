"""The daily jobs on the real Redis with a clock the test moves: they run at JOBS_AT, catch up once
after days of downtime, and a core stopped in the middle of them does nothing twice when it starts
again. The summary reports yesterday's real sends; pruning removes what does not expire by itself."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from support import eventually

from waorch.core import keys
from waorch.core.activity import ActivityLog
from waorch.core.alerts import AlertKind, AlertStore
from waorch.core.jobs import DailyJobs, Job, JobAction, JobBook
from waorch.core.lease import CoreLease
from waorch.core.messages import Message, MessageStatus, MessageStore, Retention, new_message_id
from waorch.core.pruning import Pruner
from waorch.core.sessions import SessionStore
from waorch.core.summary import DailySummary
from waorch.core.tiers import DEFAULT_TIERS

ZONE = ZoneInfo("Asia/Jerusalem")
AT = 3 * 60 + 30  # JOBS_AT=03:30


def local(day: int, hour: int, minute: int = 0) -> float:
    """Unix seconds of November ``day``, 2026, at ``hour:minute`` in the zone."""
    return datetime(2026, 11, day, hour, minute, tzinfo=ZONE).timestamp()


class MovedClock:
    """A clock the test sets; its sleeps are short real ones (the jobs' loop looks at it often)."""

    def __init__(self, now: float) -> None:
        self.at = now

    def now(self) -> float:
        return self.at

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0.01)

    def real_seconds(self, seconds: float) -> float:
        return seconds

    def clock_seconds(self, real_seconds: float) -> float:
        return real_seconds


def daily_jobs(
    redis: aioredis.Redis, clock: MovedClock, lease: CoreLease, backup: JobAction | None = None
) -> DailyJobs:
    """The core's daily jobs on their own objects (as a core that starts builds them)."""
    alerts = AlertStore(redis, clock, telegram=True)
    activity = ActivityLog(redis, clock, alerts=alerts)
    summary = DailySummary(clock, ZONE, SessionStore(redis, clock), MessageStore(redis, lease), activity)
    jobs = [Job("summary", summary.run), Job("prune", Pruner(redis).run)]
    return DailyJobs(JobBook(redis, clock, ZONE, AT), jobs, activity, backup=backup)


async def alerts_of(redis: aioredis.Redis, kind: AlertKind) -> list[str]:
    """The texts of the stored alerts of ``kind``."""
    stored = await AlertStore(redis, MovedClock(0), telegram=True).recent(1000)
    return [alert.text for alert in stored if alert.kind == kind]


async def settle(store: MessageStore, session_id: str, outcome: MessageStatus, at: float, day: str) -> str:
    """Accept, start and finish a message at ``at`` (counted on local ``day``)."""
    message = Message(new_message_id(), session_id, "972522222222", "hi", "", created=at, count_day=day)
    await store.accept(message, DEFAULT_TIERS, at, due=True)
    assert await store.start(session_id, message.id, at)
    assert await store.finish(session_id, message.id, at, outcome, day)
    return message.id


async def test_after_days_of_downtime_the_jobs_run_once_and_report_yesterday(
    redis: aioredis.Redis, lease: CoreLease, sessions: list[str]
) -> None:
    clock = MovedClock(local(16, 10))
    jobs = daily_jobs(redis, clock, lease)
    assert await jobs.run_due() == 0  # started at 10:00: today's 03:30 had passed before the first start
    assert [view.next_run for view in await jobs.book.views()] == [local(17, 3, 30)] * 2
    store = MessageStore(redis, lease)
    for outcome in (MessageStatus.SENT, MessageStatus.SENT, MessageStatus.FAILED):
        await settle(store, sessions[0], outcome, local(18, 14), "2026-11-18")
    await settle(store, sessions[1], MessageStatus.SENT, local(17, 14), "2026-11-17")

    clock.at = local(19, 12)  # down from the 16th to the 19th at noon: three slots missed
    assert await jobs.run_due() == 2
    assert await jobs.run_due() == 0
    summaries = await alerts_of(redis, AlertKind.SUMMARY)
    assert len(summaries) == 1
    assert summaries[0].startswith("summary of 2026-11-18: 2 sent, 1 failed, 0 unknown")
    assert f"{sessions[0]}: 2 sent 1 failed" in summaries[0] and f"{sessions[1]}:" not in summaries[0]
    for view in await jobs.book.views():
        assert view.last is not None and view.last.ok and view.last.slot == local(19, 3, 30)
        assert view.next_run == local(20, 3, 30)


async def test_a_core_stopped_in_the_middle_does_nothing_twice(
    redis: aioredis.Redis, lease: CoreLease, sessions: list[str]
) -> None:
    clock = MovedClock(local(16, 10))
    entered, archives = asyncio.Event(), []

    async def stuck(slot: float) -> str:
        entered.set()
        await asyncio.Event().wait()  # the core stops during the backup
        return "never"

    async def backup(slot: float) -> str:
        archives.append(slot)
        return "archive written"

    first = daily_jobs(redis, clock, lease, backup=stuck)
    assert await first.run_due() == 0
    clock.at = local(17, 4)
    loop = asyncio.ensure_future(first.run_forever())
    await asyncio.wait_for(entered.wait(), 10)
    loop.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await loop
    pruned = await first.book.last("prune")
    assert pruned is not None and await first.book.last("backup") is None

    second = daily_jobs(redis, clock, lease, backup=backup)  # the core starts again
    loop = asyncio.ensure_future(second.run_forever())
    try:
        done = await eventually(lambda: second.book.last("backup"))
    finally:
        loop.cancel()
    assert done.ok and done.did == "archive written" and archives == [local(17, 3, 30)]
    assert await second.book.last("prune") == pruned  # not run again
    assert len(await alerts_of(redis, AlertKind.SUMMARY)) == 1


async def test_the_summary_run_twice_is_raised_once(redis: aioredis.Redis, lease: CoreLease) -> None:
    clock = MovedClock(local(17, 4))
    summary = daily_jobs(redis, clock, lease).jobs[0]
    assert (await summary.run(local(17, 3, 30))).startswith("summary of 2026-11-16")
    assert await summary.run(local(17, 3, 30)) == "the summary of 2026-11-16 was already raised"
    assert len(await alerts_of(redis, AlertKind.SUMMARY)) == 1


async def test_a_failed_job_is_recorded_alerted_and_runs_again_the_next_day(
    redis: aioredis.Redis, lease: CoreLease
) -> None:
    clock = MovedClock(local(16, 10))
    disk = {"full": True}

    async def backup(slot: float) -> str:
        if disk["full"]:
            raise OSError(28, "No space left on device")
        return "archive written"

    jobs = daily_jobs(redis, clock, lease, backup=backup)
    await jobs.run_due()
    clock.at = local(17, 4)
    assert await jobs.run_due() == 3
    failed = await jobs.book.last("backup")
    assert failed is not None and not failed.ok and "No space left on device" in failed.did
    # Recorded and in the log; the alert is the backup's own (Backups.take raises it), so the job raises none.
    logged = [entry.text for entry in await ActivityLog(redis, clock).latest(50) if entry.kind == "job"]
    assert any("backup failed: " in text and "No space left on device" in text for text in logged)
    assert await alerts_of(redis, AlertKind.BACKUP_FAILED) == [] and await alerts_of(redis, AlertKind.JOB_FAILED) == []
    assert await jobs.run_due() == 0  # not again the same day
    disk["full"] = False
    clock.at = local(18, 3, 31)
    assert await jobs.run_due() == 3
    again = await jobs.book.last("backup")
    assert again is not None and again.ok and again.slot == local(18, 3, 30)


async def test_pruning_drops_ids_of_expired_messages_and_gives_rewritten_counters_their_expiry(
    redis: aioredis.Redis, lease: CoreLease, sessions: list[str]
) -> None:
    now = local(16, 10)
    short = MessageStore(redis, lease, Retention(message_s=1))
    expiring = await settle(short, sessions[0], MessageStatus.DEAD, now, "2026-11-16")
    kept = await settle(MessageStore(redis, lease), sessions[0], MessageStatus.DEAD, now, "2026-11-16")
    await eventually(lambda: _gone(redis, keys.message(expiring)), timeout=5)

    # A message counted on a day more than a week ahead: that day's counters expire before it is
    # settled, and settling it writes them again.
    store = MessageStore(redis, lease)
    far = "2026-12-24"
    message = Message(new_message_id(), sessions[1], "972522222222", "later", "", created=now, count_day=far)
    await store.accept(message, DEFAULT_TIERS, now, due=True)
    await redis.pexpire(keys.counts(sessions[1], far), 1)
    await eventually(lambda: _gone(redis, keys.counts(sessions[1], far)), timeout=5)
    assert await store.start(sessions[1], message.id, now)
    assert await store.finish(sessions[1], message.id, now, MessageStatus.SENT, "2026-11-16")
    assert await redis.ttl(keys.counts(sessions[1], far)) == -1

    did = await Pruner(redis).run(now)
    assert did.startswith("dropped 1 id(s) of expired messages") and "1 day counter(s)" in did
    assert await redis.lrange(keys.DEAD, 0, -1) == [kept]
    assert 0 < await redis.ttl(keys.counts(sessions[1], far)) <= 8 * 86400
    assert (await Pruner(redis).run(now)).startswith("dropped 0 id(s)")  # safe to run twice


async def _gone(redis: aioredis.Redis, key: str) -> bool:
    return not await redis.exists(key)
