"""The orchestration core: sessions, proxies, workers and their events, on one Redis.

Plain asyncio; the REST API, the webhook and the control room are clients of ``Core``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import redis.asyncio as aioredis

from waorch.cancel import cancel_and_wait
from waorch.clock import Clock, SystemClock
from waorch.config import Settings
from waorch.core import keys
from waorch.core.activity import WARNING
from waorch.core.backups import Backups, FleetParts
from waorch.core.breaker import Breaker, BreakerRule
from waorch.core.dispatcher import Dispatcher
from waorch.core.events import Event, EventHandler
from waorch.core.failover import Failover
from waorch.core.forwarder import Forwarder
from waorch.core.idempotency import IdempotencyStore
from waorch.core.inbox import Inbox
from waorch.core.intake import Intake
from waorch.core.jobs import DailyJobs, Job
from waorch.core.lease import CoreLease
from waorch.core.lifecycle import Lifecycle
from waorch.core.messages import MessageStatus
from waorch.core.metrics import LatenessLog, Metrics
from waorch.core.outbox import Outbox
from waorch.core.pacing import local_day
from waorch.core.proxy_pool import ProxyInfo
from waorch.core.pruning import Pruner
from waorch.core.reader import CoreReader
from waorch.core.redis_server import Durability, is_outage, probe_durability, problem_of
from waorch.core.runners.base import Runner
from waorch.core.runners.docker import DockerRunner
from waorch.core.runners.hosted import HostedRunner
from waorch.core.runners.process import ProcessRunner
from waorch.core.runners.swarm import SwarmRunner
from waorch.core.sessions import Session, Status
from waorch.core.start_queue import StartQueue
from waorch.core.summary import DailySummary
from waorch.core.telegram import TelegramSender
from waorch.core.tiers import Tier
from waorch.core.views import Health
from waorch.core.watchdog import Watchdog
from waorch.core.worker_client import WorkerClient
from waorch.errors import CoreActive, InvalidTiers, NotPairable, WaorchError, WorkerUnreachable
from waorch.phones import parse_phone
from waorch.proxy_url import parse_proxy_url

log = logging.getLogger("waorch.core")

RESUME_POLL_S = 0.25  # how often a core whose Redis went away tries to take its lease back
# What to do to get a pairing code, by the status of a session that is not showing a QR.
PAIRING_ADVICE: dict[str, str] = {  # by status (a Status is its str value)
    Status.PROVISIONING: "wait until it shows a QR (status qr_ready), then ask for a code",
    Status.STARTING: "wait until it shows a QR (status qr_ready), then ask for a code",
    Status.CONNECTED: "it is already linked to a phone",
    Status.DISCONNECTED: "wait until it reconnects or shows a QR (status qr_ready)",
}
FULL_CHECK_MS = 1000  # how often a core whose Redis is full looks whether it has room again
# After a disconnect, when to look whether the worker has exited (a failed login ends it): its
# restart is then queued at once, with its backoff, instead of at the watchdog's next pass.
EXIT_CHECKS_S = (2.0, 10.0)
RUNNERS: dict[str, Callable[[Settings], Runner]] = {
    "process": lambda settings: HostedRunner(settings) if settings.sessions_per_worker > 1 else ProcessRunner(),
    "docker": DockerRunner,
    "swarm": SwarmRunner,
}


class Core:
    """One active orchestrator: owns the start queue, the watchdog and the event handling."""

    def __init__(
        self, settings: Settings, redis: aioredis.Redis, runner: Runner | None = None, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.clock = clock or SystemClock()
        self.lease = CoreLease(redis, settings.base_url, settings.core_lease_ms)
        self.reader = reader = CoreReader(settings, redis, self.clock, self.lease)  # the stores, and views of them
        self.store, self.pool, self.activity, self.messages = (
            reader.store,
            reader.pool,
            reader.activity,
            reader.messages,
        )
        self.fleet, self.tiers, self.account_health = reader.fleet, reader.tiers, reader.account_health
        self.runner = runner or RUNNERS[settings.runner](settings)
        self.lifecycle = Lifecycle(settings, self.store, self.pool, self.runner)
        self.starts = StartQueue(redis, self.clock, settings.provisioning_interval_ms, self.lifecycle.start, self.lease)
        self.alerts = reader.alerts
        self.backups = Backups(
            settings, redis, self.clock, self.activity, FleetParts(self.store, self.pool, self.starts, self.lifecycle)
        )
        self.telegram = TelegramSender.configured(settings, self.alerts)  # None (said once): alerts are off
        self.store.status_listeners.append(self.activity.status_changed)
        self.failover = Failover(self.store, self.pool, self.starts, self.activity)
        self.watchdog = Watchdog(self.store, self.lifecycle, self.starts, settings.ping_timeout_ms, self.activity)
        self.workers = WorkerClient(settings.webhook_secret, settings.worker_host)
        self.metrics = Metrics(reader)  # GET /metrics: read from Redis at each scrape, and this core's events
        rule = BreakerRule(
            settings.breaker_threshold, settings.breaker_window_ms / 1000, settings.breaker_cooloff_ms / 1000
        )
        self.breaker = Breaker(self.store, self.activity, rule, self.account_health)
        self.dispatcher = Dispatcher(
            self.store,
            self.messages,
            self.tiers,
            self.workers,
            self.clock,
            settings.timezone,
            self.activity,
            LatenessLog(self.metrics.events.lateness),
            self.breaker,
        )
        self.intake = Intake(self.store, self.messages, self.dispatcher, self.clock, self.account_health)
        self.idempotency = IdempotencyStore(redis)
        self.store.status_listeners.append(self._status_changed)
        self.outbox = Outbox(redis, self.clock)  # incoming messages, forwarded to EVENTS_WEBHOOK_URL if set
        self.forwarder = Forwarder.configured(settings, self.outbox, self.store)
        self.inbox = Inbox(
            redis, self.clock, settings.inbox_limit, self.outbox if self.forwarder else None, zone=settings.timezone
        )
        self.events = EventHandler(
            self.store,
            self.pool,
            self.lifecycle,
            self.failover,
            self._logout_in_background,
            self.dispatcher,
            settings.restrict_new_contacts_ms / 1000,
            self.inbox,
            self.watchdog.restart,
            self.breaker,
            self.account_health,
        )
        self.summary = DailySummary(self.clock, settings.timezone, self.store, self.messages, self.activity)
        self.pruner = Pruner(redis)
        daily = [Job("summary", self.summary.run), Job("prune", self.pruner.run)]
        self.daily = DailyJobs(reader.jobs, daily, self.activity, backup=self._daily_backup)
        self.metrics.backup_age = self.backups.age
        self._tasks: set[asyncio.Task[Any]] = set()  # the lease holder and background actions
        self._acting: set[asyncio.Task[Any]] = set()  # the loops of the active core (stopped during an outage)
        self._halt = asyncio.Event()  # set while the loops must stop (outage, step-down, stop)
        self._stopping = asyncio.Event()
        self.state = "starting"  # active · suspended: why · stepped down · stopped (for /health and the room)
        self.durability: Durability | None = None

    async def _daily_backup(self, slot: float) -> str:
        """The daily jobs' backup: one archive of the fleet, rotated (what it did, for the job's result)."""
        info = await self.backups.take()
        return f"{info.name}: {info.sessions} sessions, {info.size} bytes"

    async def start(self) -> None:
        """Take the lease unless taken (``CoreActive`` if another core holds it), then act: load
        configured proxies, re-adopt running workers, start the loops. When Redis goes away the
        core stops acting and, once Redis answers again, takes the lease back and resumes."""
        if not self.lease.epoch:
            await self.lease.acquire()
        await self._act()
        self._spawn(self._hold_lease())

    async def _act(self) -> None:
        """Start everything the active core does (at start, and again after an outage)."""
        self._halt = asyncio.Event()
        await self._check_durability()
        await self.pool.rekey()  # before anything looks a proxy up by the id of its URL
        for proxy in self.settings.proxies:
            await self.pool.add(proxy, "env", exist_ok=True)
        self.watchdog.quiet_since = self.clock.now()  # workers could not ping a core that was not there
        await self._reconcile()
        await self.watchdog.check_once()
        self._run_loop(self.starts.run_forever(self._halt))
        self._run_loop(self.dispatcher.run())
        if self.forwarder:
            self._run_loop(self.forwarder.run_forever(self._halt))
        if self.telegram:
            self._run_loop(self.telegram.run_forever(self._halt))
        await self.daily.plan()
        self._run_loop(self.daily.run_forever())
        self._run_loop(self._every(self.settings.watchdog_interval_ms, self.watchdog.check_once))
        self._run_loop(self._every(self.settings.monitor_interval_ms, self.failover.recheck))
        self._run_loop(self._every(FULL_CHECK_MS, self.activity.check_full))
        self.state = "active"

    async def _reconcile(self) -> None:
        """Report this deployment's workers no session holds, or remove them (``REMOVE_ORPHANS``); the
        watchdog then adopts the running workers the sessions hold and restarts the others."""
        known = [session.worker for session in await self.store.list() if session.worker]
        for stray in await self.runner.strays(known):
            of = f" (labelled {stray.session_id})" if stray.session_id else ""
            if self.settings.containers.remove_orphans:
                await self.runner.stop(stray.ref, 5.0)
                text = f"removed {stray.name}{of}: no session holds it"
            else:
                text = f"{stray.name}{of} is this deployment's but no session holds it; REMOVE_ORPHANS=true removes it"
            await self.activity.add(WARNING, "orphan", text)

    async def _check_durability(self) -> None:
        """Read what a 202 guarantees on this server; say it when it is new (first start, or another server)."""
        durability = await probe_durability(self.redis)
        if durability != self.durability:
            log.log(
                logging.INFO if durability.power_cut_safe else logging.WARNING, "durability: %s", durability.describe()
            )
        self.durability = self.intake.durability = durability

    async def _halt_acting(self) -> None:
        self._halt.set()
        await self.dispatcher.stop()
        await cancel_and_wait(*self._acting)

    async def _hold_lease(self) -> None:
        """Renew the lease; through a Redis outage stop acting and resume after it; step down for
        good when another core holds the lease."""
        while (problem := await self.lease.keep()) is not None:
            self.state = "suspended: Redis unavailable"
            log.error("Redis unavailable: the core stops acting until it answers again (%s)", problem)
            await self._halt_acting()
            if not await self._resume():
                break
            log.warning("Redis answers again: the core acts again (epoch %d)", self.lease.epoch)
        if not self._stopping.is_set():
            await self._stop_loops()
            self.state = "stepped down"

    async def _resume(self) -> bool:
        """Take the lease back and act again once Redis answers; False if another core took over."""
        while True:
            await asyncio.sleep(RESUME_POLL_S)
            try:
                await self.lease.acquire()
                await self._act()
                return True
            except CoreActive as error:
                self.lease.lost.set()
                log.error("stepping down: %s", error)
                return False
            except Exception as error:
                if not is_outage(error):
                    log.exception("resuming the core failed; trying again")
                await self._halt_acting()

    async def stop(self, *, stop_workers: bool = False) -> None:
        """Stop the loops and give the lease up; workers keep running (and are re-adopted) unless
        ``stop_workers``."""
        await self._stop_loops()
        self.state = "stopped"
        if self.lease.epoch:
            await self.lease.release()
        if stop_workers and self.lease.epoch and not self.lease.lost.is_set():
            await self._stop_workers()
        await self.workers.close()
        await self.runner.close()

    async def live_workers(self) -> int:
        """How many sessions' workers run right now (the runner asked about all at once)."""
        workers = [session.worker for session in await self.store.list() if session.worker]
        return sum(worker.alive for worker in (await self.runner.survey(workers)).values())

    async def _stop_workers(self) -> None:
        try:
            await asyncio.gather(*(self.lifecycle.stop(sid, 5.0) for sid in await self.store.ids()))
        except (aioredis.RedisError, OSError) as error:
            log.error("workers not stopped: Redis unavailable (%s)", problem_of(error))

    async def _stop_loops(self) -> None:
        self._stopping.set()
        await self._halt_acting()
        current = asyncio.current_task()
        await cancel_and_wait(*(task for task in self._tasks if task is not current))

    def _run_loop(self, awaitable: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(awaitable)
        self._acting.add(task)
        task.add_done_callback(self._acting.discard)

    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _every(self, interval_ms: int, action: Callable[[], Awaitable[None]]) -> None:
        while not self._halt.is_set():
            await asyncio.sleep(interval_ms / 1000)
            try:
                await action()
            except Exception as error:
                if not is_outage(error) and not await self.activity.redis_full(error):
                    log.exception("periodic %s failed", getattr(action, "__qualname__", action))

    async def provision(self, phone: str | None = None, proxy: str | None = None) -> Session:
        """Create a session (on ``proxy``, a URL, else one chosen atomically) and queue its worker's start;
        ``phone`` as written (``DEFAULT_REGION`` for a national number)."""
        digits = self._phone(phone) if phone else None
        proxy_id = None
        if proxy:
            proxy_id = (await self.pool.add(parse_proxy_url(proxy), "api", exist_ok=True)).id
        fields = {
            "status": Status.PROVISIONING.value,
            "created": str(self.clock.now()),
            "generation": "0",
            "engine": self.settings.worker_engine,
        }  # it keeps it: a real account never moves to the simulator
        session_id, _ = await self.pool.provision(fields, digits, proxy_id)
        await self.store.record(session_id, "status", {"status": "provisioning", "reason": ""})
        await self.starts.enqueue(session_id)
        return await self.store.get(session_id)

    def _phone(self, raw: str) -> str:
        """An account's phone, however written (``DEFAULT_REGION`` for national numbers)."""
        return parse_phone(raw, self.settings.default_region, valid_only=False)

    async def delete(self, session_id: str) -> None:
        """Stop the worker, free its proxy and phone slots, delete its login data and its keys (never
        while a start of its worker is under way: that start finishes first, then its worker is stopped)."""
        async with self.lifecycle.locks.hold(session_id):
            await self.store.get(session_id)
            await self.starts.discard(session_id)
            await self.lifecycle.stop(session_id)
            await self._fail_waiting(session_id, "session deleted")
            await self.pool.release(session_id)
            await self._forget(session_id)
            self.lifecycle.delete_auth(session_id)

    async def _forget(self, session_id: str) -> None:
        """Remove every key still naming a deleted session (its session hash is already gone)."""
        await self.messages.forget_session(session_id, self.clock.now())
        await self.outbox.forget_session(session_id)
        await self.redis.delete(keys.breaker_signs(session_id))

    async def _fail_waiting(self, session_id: str, reason: str) -> None:
        """Settle a session's queued and in-flight messages as failed (they can no longer be sent)."""
        now = self.clock.now()
        day = local_day(now, self.settings.timezone)
        waiting = await self.messages.inflight(session_id) + [
            m.id for m in await self.messages.peek(session_id, 100_000)
        ]
        for message_id in waiting:
            await self.messages.finish(session_id, message_id, now, MessageStatus.FAILED, day, error=reason)
        if waiting:
            await self.activity.add(
                WARNING, "message", f"{len(waiting)} waiting message(s) failed: {reason}", session_id
            )

    async def restart(self, session_id: str) -> Session:
        """Queue a restart of the session's worker (spaced like every start)."""
        await self.store.get(session_id)
        await self.store.set_status(session_id, Status.STARTING, "restart requested")
        await self.starts.enqueue(session_id)
        return await self.store.get(session_id)

    async def logout(self, session_id: str) -> None:
        """Log the session out of WhatsApp; its login data is deleted."""
        session = await self.store.get(session_id)
        try:
            await self.workers.command(session, "logout")
        except WorkerUnreachable:
            async with self.lifecycle.locks.hold(session_id):
                await self.lifecycle.stop(session_id)
                self.lifecycle.delete_auth(session_id)
                await self.store.set_status(
                    session_id, Status.LOGGED_OUT, "logged out while the worker was unreachable"
                )

    async def pairing_code(self, session_id: str, phone: str) -> str:
        """An 8-character code to link ``phone`` without scanning (only while the session shows a QR:
        ``NOT_PAIRABLE`` otherwise, saying what to do)."""
        digits = self._phone(phone)
        session = await self.store.get(session_id)
        if session.status != Status.QR_READY:
            advice = PAIRING_ADVICE.get(session.status, "restart it to get a new QR, then ask for a code")
            raise NotPairable(f"{session_id} is {session.status}: {advice}", session_id=session_id)
        answer = await self.workers.command(session, "pairing_code", phone=digits)
        await self.store.record(session_id, "pairing_code", {"phone": digits})
        return str(answer["code"])

    async def _logout_in_background(self, session_id: str) -> None:
        self._spawn(self._quiet(self.logout(session_id)))

    @staticmethod
    async def _quiet(awaitable: Awaitable[Any]) -> None:
        try:
            await awaitable
        except WaorchError as error:
            log.warning("%s", error)

    async def handle_event(self, event: Event) -> None:
        """Apply a verified worker event."""
        self.metrics.events.webhook_events.labels(event.type).inc()
        await self.events.handle(event)

    async def _status_changed(self, session_id: str, status: Status, reason: str) -> None:
        self.dispatcher.wake(session_id)
        if status == Status.DISCONNECTED:
            self._run_loop(self._restart_if_exited(session_id))

    async def _restart_if_exited(self, session_id: str) -> None:
        for delay in EXIT_CHECKS_S:
            await asyncio.sleep(delay)
            try:
                await self.watchdog.check(session_id)
            except Exception as error:
                if not is_outage(error):
                    log.exception("[%s] checking the worker after its disconnect failed", session_id)
                return

    async def set_paused(self, session_id: str, paused: bool) -> None:
        """Pause or resume a session's sending (its messages stay queued)."""
        await self.store.get(session_id)
        await self.store.update(session_id, paused=int(paused))
        if not paused:  # an operator's resume ends a breaker's hold too
            await self.breaker.reset(session_id)
        await self.store.record(session_id, "queue", {"paused": paused})
        self.dispatcher.wake(session_id)

    async def replace_tiers(self, tiers: Sequence[Tier]) -> tuple[Tier, ...]:
        """Validate and save the tier table; running sessions use it from their next decision."""
        saved = await self.tiers.replace(tiers)
        for session_id in await self.store.ids():
            self.dispatcher.wake(session_id)
        return saved

    async def pin_tier(self, session_id: str, name: str | None) -> None:
        """Pin a session to a tier by name (``None``: back to its age's tier)."""
        await self.store.get(session_id)
        if name is not None and await self.tiers.named(name) is None:
            raise InvalidTiers(f"no tier named {name!r}", session_id=session_id)
        await self.store.update(session_id, tier_pin=name or "")
        self.dispatcher.wake(session_id)

    async def add_proxy(self, url: str) -> ProxyInfo:
        """Add a proxy to the pool (``INVALID_PROXY`` / ``PROXY_EXISTS``)."""
        return await self.pool.add(parse_proxy_url(url), "api")

    async def health(self) -> Health:
        """Redis reachability, the core's state, what a 202 guarantees, session counts by status."""
        try:
            await self.redis.ping()
            counts = await self.store.count_by_status()
            proxies = await self.pool.list()
        except (aioredis.RedisError, OSError) as error:
            return Health(self.state, f"Redis unavailable: {problem_of(error)}")
        return Health(self.state, None, counts, len(proxies), sum(p.status == "bad" for p in proxies), self.durability)
