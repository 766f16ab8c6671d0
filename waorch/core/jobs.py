"""The daily jobs: run once a day at ``JOBS_AT`` (local time in ``TIMEZONE``), on the active core only.

A job's *slot* is the moment it was due (that day's ``JOBS_AT``). Each job's last result (its
slot, when it ended, ok or failed, what it did) is kept in Redis, so:

- a job is due when the newest slot at or before now is newer than its last result's slot (and
  than the first start of the jobs: a fleet started at noon does not run them at once); after days
  of downtime that is one slot, the newest: the jobs catch up once, not once per missed day;
- a core that stops (or crashes) in the middle of a job runs that job again when it starts, and
  not the ones that had finished: each job is safe to run twice (pruning is, by its nature; the
  summary keeps a mark of the day it reported; a backup only makes another archive);
- every time comes from the core's clock, so tests move it.

Jobs run one after the other, in the order given (the core's: the summary, an alert, then
pruning), then the ``backup`` job when a backup action is given. A failed job is recorded as
failed, written to the activity log and alerted; it runs again at the next slot.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from waorch.clock import Clock
from waorch.core import keys
from waorch.core.activity import ERROR, INFO, ActivityLog
from waorch.core.alerts import AlertKind
from waorch.core.pacing import at_minute
from waorch.core.redis_server import is_outage

log = logging.getLogger("waorch.jobs")

NAP_REAL_S = 30.0  # the longest real nap between looks at the clock (a clock that jumps is noticed)
JobAction = Callable[[float], Awaitable[str]]  # does the job of a slot (unix s); says what it did


@dataclass(frozen=True)
class Job:
    """A daily job: its name, what it does, and the alert raised when it fails (``None``: the job's
    action raises its own)."""

    name: str
    run: JobAction
    failure: AlertKind | None = AlertKind.JOB_FAILED


@dataclass(frozen=True)
class JobResult:
    """How a job's last run went: the slot it ran for and when it ended (unix s), ok, what it did."""

    slot: float
    at: float
    ok: bool
    did: str


@dataclass(frozen=True)
class JobView:
    """A job as views show it: when it runs next (unix s; in the past while it is due) and its last result."""

    name: str
    next_run: float
    last: JobResult | None = field(default=None)


def latest_slot(now: float, zone: ZoneInfo, minute: int) -> float:
    """The newest daily ``minute`` (of the local day) at or before ``now``."""
    today = datetime.fromtimestamp(now, zone)
    slot = at_minute(today, minute, zone)
    return slot if slot <= now else at_minute(today - timedelta(days=1), minute, zone)


def next_slot(now: float, zone: ZoneInfo, minute: int) -> float:
    """The first daily ``minute`` (of the local day) after ``now``."""
    today = datetime.fromtimestamp(now, zone)
    slot = at_minute(today, minute, zone)
    return slot if slot > now else at_minute(today + timedelta(days=1), minute, zone)


def day_before(slot: float, zone: ZoneInfo) -> str:
    """``YYYY-MM-DD`` of the local day before the one ``slot`` falls in (the last complete day)."""
    return (datetime.fromtimestamp(slot, zone).date() - timedelta(days=1)).isoformat()


class JobBook:
    """The jobs' plan and results in Redis (the core writes them; a control room reads them too)."""

    def __init__(self, redis: aioredis.Redis, clock: Clock, zone: ZoneInfo, minute: int) -> None:
        self.redis = redis
        self.clock = clock
        self.zone = zone
        self.minute = minute

    async def plan(self, names: Sequence[str]) -> float:
        """Record the jobs in order (and the first start, once); returns the first start."""
        await self.redis.hset(keys.JOBS_PLAN, "names", json.dumps(list(names)))
        await self.redis.hsetnx(keys.JOBS_PLAN, "since", self.clock.now())
        return float(await self.redis.hget(keys.JOBS_PLAN, "since") or 0)

    async def last(self, name: str) -> JobResult | None:
        """A job's last result (``None`` before its first run)."""
        raw = await self.redis.hget(keys.JOBS, name)
        if not raw:
            return None
        data = json.loads(raw)
        return JobResult(float(data["slot"]), float(data["at"]), bool(data["ok"]), str(data["did"]))

    async def record(self, name: str, result: JobResult) -> None:
        """Keep a job's result."""
        await self.redis.hset(keys.JOBS, name, json.dumps(asdict(result)))

    def due(self, last: JobResult | None, since: float, now: float) -> float | None:
        """The slot a job is due for (``None``: not due)."""
        slot = latest_slot(now, self.zone, self.minute)
        return slot if slot > max(since, last.slot if last else 0.0) else None

    async def views(self) -> list[JobView]:
        """Every planned job with its next run and last result (none before the jobs first started)."""
        plan = await self.redis.hgetall(keys.JOBS_PLAN)
        since, now = float(plan.get("since") or 0), self.clock.now()
        views = []
        for name in json.loads(plan.get("names") or "[]"):
            last = await self.last(name)
            views.append(JobView(name, self.due(last, since, now) or next_slot(now, self.zone, self.minute), last))
        return views


class DailyJobs:
    """Runs the jobs when due (``run_forever`` on the active core; ``run_due`` for one look)."""

    def __init__(
        self, book: JobBook, jobs: Sequence[Job], activity: ActivityLog, *, backup: JobAction | None = None
    ) -> None:
        self.book = book
        # A failed backup raises its own alert (Backups.take): one alert, not two.
        self.jobs = (*jobs, *([Job("backup", backup, None)] if backup else []))
        self.activity = activity
        self.clock = book.clock

    async def plan(self) -> float:
        """Record the jobs (views list them from now on); returns their first start."""
        return await self.book.plan([job.name for job in self.jobs])

    async def run_forever(self) -> None:
        """Run the due jobs, then nap until the next slot (cancelled when the core stops acting)."""
        while True:
            try:
                await self.run_due()
            except Exception as error:
                if not is_outage(error) and not await self.activity.redis_full(error):
                    log.exception("daily jobs: looking for due jobs failed")
            now = self.clock.now()
            wait = next_slot(now, self.book.zone, self.book.minute) - now
            await self.clock.sleep(min(wait, self.clock.clock_seconds(NAP_REAL_S)))

    async def run_due(self) -> int:
        """Run each job that is due, in order; how many ran."""
        since = await self.plan()
        ran = 0
        for job in self.jobs:
            slot = self.book.due(await self.book.last(job.name), since, self.clock.now())
            if slot is not None:
                await self._run(job, slot)
                ran += 1
        return ran

    async def _run(self, job: Job, slot: float) -> None:
        log.info("daily job %s starts", job.name)
        try:
            did, ok = await job.run(slot), True
        except Exception as error:
            if isinstance(error, aioredis.RedisError) and is_outage(error):
                raise  # nothing recorded: it runs again once Redis answers (a job's own OSError is a failure)
            log.exception("daily job %s failed", job.name)
            did, ok = f"{type(error).__name__}: {error}", False
        await self.book.record(job.name, JobResult(slot, self.clock.now(), ok, did))
        if ok:
            await self.activity.add(INFO, "job", f"{job.name}: {did}")
        else:
            await self.activity.add(ERROR, "job", f"{job.name} failed: {did}", alert=job.failure, subject=job.name)
