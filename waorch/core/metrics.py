"""Prometheus metrics of one core, in the text format (``GET /metrics``).

Where the truth lives in Redis it is read there at scrape time, so every scrape says what the API
says at that moment: sessions by status, queue depth and today's counters per session, messages
scheduled, dead and unknown, worker restarts, each session's health score and its parts, proxy load
and health, alerts, the daily jobs.
What are events of this process is counted here: messages accepted, worker webhook events by
type, the lateness of each send. Labels are session ids, proxy ids, statuses, event types and
outcomes: never a phone number, a message id or a proxy's address.

The age of the newest backup comes from a callable given to the core (none: no such metric).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from waorch.core import keys
from waorch.core.account_health import Report
from waorch.core.alerts import DELIVERIES
from waorch.core.jobs import JobView
from waorch.core.messages import MessageStatus
from waorch.core.pacing import local_day
from waorch.core.proxy_pool import ProxyInfo
from waorch.core.reader import CoreReader

LATENESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
DAY_OUTCOMES = ("queued", "sent", "failed", "unknown")  # a session's counters of the local day
BackupAge = Callable[[], Awaitable[float | None]]  # seconds since the newest backup (None: there is none)


class LatenessLog(deque[float]):
    """The dispatcher's record of how late each send started (real seconds), also observed in a histogram."""

    def __init__(self, histogram: Histogram, maxlen: int = 100_000) -> None:
        super().__init__(maxlen=maxlen)
        self.histogram = histogram

    def append(self, seconds: float) -> None:
        """Keep ``seconds`` and observe it."""
        super().append(seconds)
        self.histogram.observe(seconds)


class EventCounters:
    """The counters of this process's events (a registry of its own: several cores may share a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.accepted = Counter(
            "waorch_messages_accepted", "Messages accepted (202) by this core", registry=self.registry
        )
        self.webhook_events = Counter(
            "waorch_webhook_events", "Worker events received, by type", ["type"], registry=self.registry
        )
        self.lateness = Histogram(
            "waorch_send_lateness_seconds",
            "How late each send started after its planned time (real seconds)",
            buckets=LATENESS_BUCKETS,
            registry=self.registry,
        )

    def collect(self) -> Iterator[Metric]:
        """Every counter's samples."""
        yield from self.registry.collect()


@dataclass(frozen=True)
class SessionSample:
    """One session at a scrape: its queue depth, worker restarts and counters of the local day."""

    id: str
    depth: int
    restarts: int
    queued: int
    sent: int
    failed: int
    unknown: int


@dataclass(frozen=True)
class Snapshot:
    """What Redis says at one scrape."""

    by_status: dict[str, int]
    sessions: list[SessionSample]
    scheduled: int
    dead: int
    unknown: int
    proxies: list[ProxyInfo]
    max_per_proxy: int
    alerts_pending: int
    alerts_by_delivery: dict[str, int]
    jobs: list[JobView]
    health: list[Report] = field(default_factory=list)
    backup_age: float | None = field(default=None)


class FleetCollector:
    """The metric families of a snapshot (a collector for one scrape)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        """Every family, built from the snapshot."""
        yield from self._sessions()
        yield from self._messages()
        yield from self._proxies()
        yield from self._alerts()
        yield from self._jobs()
        if self.snapshot.backup_age is not None:
            yield _gauge(
                "waorch_backup_age_seconds", "Seconds since the newest backup", [], [([], self.snapshot.backup_age)]
            )

    def _sessions(self) -> Iterable[Metric]:
        shot = self.snapshot
        yield _gauge("waorch_sessions", "Sessions by status", ["status"], [([s], n) for s, n in shot.by_status.items()])
        yield _gauge(
            "waorch_queue_depth",
            "Messages waiting in a session's queue",
            ["session"],
            [([row.id], row.depth) for row in shot.sessions],
        )
        restarts = CounterMetricFamily("waorch_worker_restarts", "Worker restarts of a session", labels=["session"])
        for row in shot.sessions:
            restarts.add_metric([row.id], row.restarts)
        yield restarts
        yield _gauge(
            "waorch_session_health",
            "A session's health score, 0-100 (GET /api/sessions/{id}/health has its parts)",
            ["session"],
            [([report.session_id], report.score) for report in shot.health],
        )
        yield _gauge(
            "waorch_session_health_penalty",
            "The points one part of a session's health score takes away",
            ["session", "part"],
            [([report.session_id, part.name], part.penalty) for report in shot.health for part in report.parts],
        )

    def _messages(self) -> Iterable[Metric]:
        shot = self.snapshot
        yield _gauge(
            "waorch_messages_today",
            "A session's messages of the local day (TIMEZONE; reset at midnight), by outcome",
            ["session", "outcome"],
            [([row.id, name], getattr(row, name)) for row in shot.sessions for name in DAY_OUTCOMES],
        )
        yield _gauge("waorch_messages_scheduled", "Messages held until their sendAt", [], [([], shot.scheduled)])
        yield _gauge(
            "waorch_messages_kept",
            "Dead and unknown messages kept for GET /api/v1/messages (within MESSAGE_RETENTION_DAYS)",
            ["status"],
            [([MessageStatus.DEAD.value], shot.dead), ([MessageStatus.UNKNOWN.value], shot.unknown)],
        )

    def _proxies(self) -> Iterable[Metric]:
        shot = self.snapshot
        yield _gauge(
            "waorch_proxy_sessions", "Sessions on a proxy", ["proxy"], [([p.id], len(p.sessions)) for p in shot.proxies]
        )
        yield _gauge("waorch_proxy_max_sessions", "MAX_SESSIONS_PER_PROXY", [], [([], shot.max_per_proxy)])
        yield _gauge(
            "waorch_proxy_bad",
            "1 while a proxy is marked BAD",
            ["proxy"],
            [([p.id], int(p.status == "bad")) for p in shot.proxies],
        )
        yield _gauge(
            "waorch_proxies_bad", "Proxies marked BAD", [], [([], sum(p.status == "bad" for p in shot.proxies))]
        )

    def _alerts(self) -> Iterable[Metric]:
        shot = self.snapshot
        yield _gauge("waorch_alerts_pending", "Alerts waiting to be sent to Telegram", [], [([], shot.alerts_pending)])
        yield _gauge(
            "waorch_alerts",
            "The kept alerts (the newest 1000) by delivery: queued, sent, failed, summarised, off",
            ["delivery"],
            [([delivery], count) for delivery, count in shot.alerts_by_delivery.items()],
        )

    def _jobs(self) -> Iterable[Metric]:
        ran = [job for job in self.snapshot.jobs if job.last]
        yield _gauge(
            "waorch_job_last_run_timestamp_seconds",
            "When a daily job last ended (unix s)",
            ["job"],
            [([job.name], job.last.at) for job in ran if job.last],
        )
        yield _gauge(
            "waorch_job_last_ok",
            "1 if a daily job's last run succeeded",
            ["job"],
            [([job.name], int(job.last.ok)) for job in ran if job.last],
        )
        yield _gauge(
            "waorch_job_next_run_timestamp_seconds",
            "When a daily job runs next (unix s)",
            ["job"],
            [([job.name], job.next_run) for job in self.snapshot.jobs],
        )


def _gauge(name: str, documentation: str, labels: list[str], samples: Iterable[tuple[list[str], float]]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for values, value in samples:
        family.add_metric(values, value)
    return family


class Metrics:
    """The core's metrics: its event counters and, at each scrape, what Redis says."""

    def __init__(self, reader: CoreReader) -> None:
        self.reader = reader
        self.events = EventCounters()
        self.backup_age: BackupAge | None = None  # set once backups exist

    async def exposition(self) -> bytes:
        """The text format of every metric, read now."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self.events)
        registry.register(FleetCollector(await self.snapshot()))
        return generate_latest(registry)

    async def snapshot(self) -> Snapshot:
        """Read what Redis says."""
        reader, redis = self.reader, self.reader.redis
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zcard(keys.SCHEDULED)
            pipe.llen(keys.DEAD)
            pipe.llen(keys.UNKNOWN)
            pipe.zcard(keys.ALERTS_PENDING)
            pipe.hvals(keys.ALERTS)
            scheduled, dead, unknown, pending, alerts = await pipe.execute()
        return Snapshot(
            await reader.store.count_by_status(),
            await self._sessions(),
            scheduled,
            dead,
            unknown,
            await reader.pool.list(),
            reader.settings.max_sessions_per_proxy,
            pending,
            _by_delivery(alerts),
            await reader.jobs.views(),
            await reader.account_health.reports(),
            await self.backup_age() if self.backup_age else None,
        )

    async def _sessions(self) -> list[SessionSample]:
        """Per session: id, queue depth, worker restarts and the counters of the local day (one round trip)."""
        reader = self.reader
        day = local_day(reader.clock.now(), reader.settings.timezone)
        ids = await reader.store.ids()
        async with reader.redis.pipeline(transaction=False) as pipe:
            for session_id in ids:
                pipe.llen(keys.queue(session_id))
                pipe.hget(keys.session(session_id), "restarts")
                pipe.hmget(keys.counts(session_id, day), *DAY_OUTCOMES)
            answers = await pipe.execute()
        rows = []
        for at, session_id in enumerate(ids):
            depth, restarts, counts = answers[3 * at : 3 * at + 3]
            day_counts = {name: int(value or 0) for name, value in zip(DAY_OUTCOMES, counts, strict=True)}
            rows.append(SessionSample(session_id, int(depth), int(restarts or 0), **day_counts))
        return rows


def _by_delivery(rows: list[str]) -> dict[str, int]:
    """How many of the stored alerts have each delivery."""
    counts = dict.fromkeys(DELIVERIES, 0)
    for row in rows:
        try:
            delivery = str(json.loads(row).get("delivery", ""))
        except (ValueError, AttributeError):
            continue
        counts[delivery] = counts.get(delivery, 0) + 1
    return counts
