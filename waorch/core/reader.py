"""What views of the fleet read, straight from Redis: the read model of the core.

The active core builds its stores here and writes through them; a control room builds one on a
Redis client of its own and only reads (its core runs in another thread, or in another process).
Nothing here starts a worker, a loop or a send: a reader's lease is never held, so its message
store cannot start one either.
"""

from __future__ import annotations

import math

import redis.asyncio as aioredis

from waorch.clock import Clock
from waorch.config import Settings
from waorch.core import keys
from waorch.core.account_health import AccountHealth
from waorch.core.activity import ActivityLog
from waorch.core.alerts import AlertStore, settings_scrubber, telegram_configured
from waorch.core.fleet_view import FleetView
from waorch.core.jobs import JobBook
from waorch.core.lease import CoreLease
from waorch.core.lifecycle import worker_log_path
from waorch.core.messages import MessageStore, Retention
from waorch.core.pacing import Hold, local_day
from waorch.core.proxy_pool import ProxyPool
from waorch.core.send_timing import Plan, SendTiming
from waorch.core.sessions import SessionStore
from waorch.core.start_queue import start_due_at
from waorch.core.tiers import TierStore
from waorch.core.views import DayUse, QueueView
from waorch.core.watchdog import CRASH_WINDOW_S
from waorch.signing import proxy_id_key


class CoreReader:
    """The core's stores on one Redis client, and the views built from them.

    ``lease``: the active core's own (its message store fences sends with it); a reader alone gets
    one that is never acquired.
    """

    def __init__(self, settings: Settings, redis: aioredis.Redis, clock: Clock, lease: CoreLease | None = None) -> None:
        self.settings = settings
        self.redis = redis
        self.clock = clock
        self.store = SessionStore(redis, clock)
        self.pool = ProxyPool(
            redis,
            clock,
            settings.max_sessions_per_proxy,
            settings.max_sessions_per_phone,
            settings.proxy_cooldown_ms,
            proxy_id_key(settings.webhook_secret),
        )
        self.alerts = AlertStore(
            redis, clock, telegram=telegram_configured(settings), scrub=settings_scrubber(settings)
        )
        self.activity = ActivityLog(redis, clock, alerts=self.alerts)  # what happened (the log pane); alerts raised
        lease = lease or CoreLease(redis, settings.base_url, settings.core_lease_ms)
        self.messages = MessageStore(redis, lease, Retention(message_s=settings.message_retention_s))
        self.fleet = FleetView(redis)  # every session's row at once, for views of the whole fleet
        self.tiers = TierStore(redis)
        self.timing = SendTiming(self.messages, self.tiers, clock, settings.timezone)
        self.account_health = AccountHealth(self.store, settings.timezone, self.tiers)  # each session's health score
        self.jobs = JobBook(redis, clock, settings.timezone, settings.jobs_at_minute)  # the daily jobs' results

    async def start_due_at(self, session_id: str) -> float | None:
        """When the session's worker start is due (unix seconds), or ``None`` if none is queued."""
        return await start_due_at(self.redis, session_id)

    async def recent_restarts(self, session_id: str) -> int:
        """Restarts of the session's worker within the crash window (more than ``CRASH_LIMIT``: parked)."""
        now = self.clock.now()
        return int(await self.redis.zcount(keys.session_restarts(session_id), now - CRASH_WINDOW_S, "+inf"))

    def worker_log(self, session_id: str) -> str:
        """Where the session's worker's output is: its log file (a worker container's output is appended there
        when the container is removed; while it runs, Docker has it)."""
        path = worker_log_path(self.settings, session_id)
        live = {"docker": "docker logs", "swarm": "docker service logs"}.get(self.settings.runner)
        return f"{path} (while it runs: {live} {self.settings.containers.prefix}{session_id})" if live else str(path)

    async def queue_view(self, session_id: str) -> QueueView:
        """A session's queue: depth, head, next send time, usage against its tier."""
        session = await self.store.get(session_id)
        now = self.clock.now()
        tier = await self.timing.tier_of(session)
        day = local_day(now, self.settings.timezone)
        counts = await self.messages.counts(session_id, day)
        head = await self.messages.peek(session_id)
        plan = (
            await self.timing.plan(session, head[0])
            if head
            else Plan(None, Hold(math.inf, "empty", "the queue is empty"))
        )
        hold = plan.hold
        return QueueView(
            session_id,
            bool(session.paused),
            await self.messages.depth(session_id),
            await self.messages.inflight(session_id),
            head,
            None if math.isinf(hold.at) else hold.at,
            hold if hold.reason and hold.at > now else None,
            tier,
            len(await self.messages.done_since(session_id, now - 60)),
            DayUse(day, **counts, limit=tier.daily_limit),
            plan.message.id if plan.message else None,
            {message_id: held for message_id, held in plan.held.items() if held.at > now},
        )
