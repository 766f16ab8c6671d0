"""The dispatcher: one loop per session that sends its queue in order, paced by its trust tier.

Each loop waits while its session is paused, not connected, banned or outside active hours, and
otherwise sends the head of the queue as soon as pacing allows: the worker shows "typing…", then
sends. A send's outcome comes back in the command's answer (or, after a crash, from the worker's
journal); an outcome that cannot be known is ``unknown``, never sent again.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from waorch.cancel import cancel_and_wait
from waorch.clock import Clock
from waorch.core.activity import ERROR, INFO, WARNING, ActivityLog
from waorch.core.alerts import AlertKind
from waorch.core.breaker import NOT_ON_WHATSAPP, SEND_FAILED, Breaker
from waorch.core.messages import CHECK, Message, MessageStatus, MessageStore
from waorch.core.pacing import RECIPIENT_HOLDS, clock_time, draw_gap, local_day, typing_seconds
from waorch.core.redis_hashes import from_redis_hash
from waorch.core.redis_server import is_outage
from waorch.core.send_timing import SendTiming
from waorch.core.sessions import Session, SessionStore
from waorch.core.tiers import TierStore
from waorch.core.worker_client import WorkerClient
from waorch.errors import Fenced, WorkerUnreachable

log = logging.getLogger("waorch.dispatcher")

MAX_ATTEMPTS = 5
RETRY_BASE_S = 30.0
# Longest real wait before a loop looks again by itself; anything that changes its decision
# (arrival, status change, pause, tier edit, due scheduled message) wakes it sooner.
POLL_REAL_S = 15.0
STEP_RETRY_S = 1.0
# A send the worker never received (lost with a Redis outage or a dropped connection): tried again at once.
NEVER_DELIVERED = "the send did not reach the worker"


def retry_delay(attempt: int) -> float:
    """Backoff before the next attempt of a transient failure (30 s, 60 s, 120 s, ...)."""
    return RETRY_BASE_S * 2.0 ** (attempt - 1)


class Dispatcher:
    """Owns the per-session loops and the outbox of scheduled messages."""

    def __init__(
        self,
        sessions: SessionStore,
        messages: MessageStore,
        tiers: TierStore,
        workers: WorkerClient,
        clock: Clock,
        zone: ZoneInfo,
        activity: ActivityLog,
        lateness: deque[float] | None = None,
        breaker: Breaker | None = None,
    ) -> None:
        self.sessions = sessions
        self.activity = activity
        self.messages = messages
        self.tiers = tiers
        self.workers = workers
        self.clock = clock
        self.zone = zone
        self.timing = SendTiming(messages, tiers, clock, zone)
        self.lateness = deque(maxlen=100_000) if lateness is None else lateness  # how late each send started
        self.breaker = breaker  # told of each send that failed or may not have gone
        self._loops: dict[str, SessionLoop] = {}
        self._stopping = asyncio.Event()

    def wake(self, session_id: str) -> None:
        """Make sure the session's loop runs and looks at its queue now."""
        if self._stopping.is_set():
            return
        loop = self._loops.get(session_id)
        if loop is None or loop.task.done():
            self._loops[session_id] = loop = SessionLoop(self, session_id)
        loop.wake()

    async def hold_new_contacts(self, session_id: str, until: float) -> None:
        """A reach-out time-lock: the session's loop looks again (new contacts wait until ``until``); alerted."""
        self.wake(session_id)
        when = clock_time(until, self.zone, self.clock.now())
        await self.activity.add(
            WARNING,
            "restricted",
            f"reach-out time-lock: no sends to new contacts until {when}",
            session_id,
            AlertKind.TIME_LOCK,
        )

    def message_arrived(self, session_id: str) -> None:
        """A message joined the tail of a queue: only a loop idle on an empty queue needs to look."""
        loop = self._loops.get(session_id)
        if loop is None or loop.task.done():
            self.wake(session_id)
        else:
            loop.arrived()

    async def run(self) -> None:
        """Start loops for sessions with work, then move due scheduled messages into queues (again
        after a ``stop``: the core stops and runs its dispatcher again around a Redis outage)."""
        self._stopping.clear()
        for session_id in await self.messages.sessions_with_work():
            self.wake(session_id)
        while not self._stopping.is_set():
            try:
                for session_id in await self.messages.promote_due(self.clock.now()):
                    self.wake(session_id)
            except (aioredis.RedisError, OSError) as error:
                if not is_outage(error) and not await self.activity.redis_full(error):
                    raise
                await asyncio.sleep(STEP_RETRY_S)
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """Stop every loop (in-flight sends are settled by the next start from the worker journal)."""
        self._stopping.set()
        loops, self._loops = list(self._loops.values()), {}
        await cancel_and_wait(*(loop.task for loop in loops))

    async def settle(self, session_id: str, message_id: str, answer: dict[str, object]) -> None:
        """Apply a worker's answer (or journal entry) about one in-flight message."""
        state, now = answer.get("state"), self.clock.now()
        message = await self.messages.find(message_id)
        if message is None:
            return
        today = local_day(now, self.zone)
        if state == "checked":
            await self._checked(session_id, message, answer.get("onWhatsApp") is True, now, today)
        elif state == "sent":
            gap = await self._next_gap(session_id)
            if await self.messages.finish(
                session_id,
                message_id,
                now,
                MessageStatus.SENT,
                today,
                wa_id=str(answer.get("waId") or ""),
                next_gap=gap,
            ):
                await self.activity.add(INFO, "message", f"{message_id} to +{message.to} sent", session_id)
        elif state == "failed":
            if await self.messages.finish(
                session_id, message_id, now, MessageStatus.FAILED, today, error=str(answer.get("error"))
            ):
                await self.activity.add(
                    ERROR, "message", f"{message_id} to +{message.to} failed: {answer.get('error')}", session_id
                )
                unregistered = "NOT_ON_WHATSAPP" in str(answer.get("error"))
                await self._sign(session_id, NOT_ON_WHATSAPP if unregistered else SEND_FAILED, message_id)
        elif state == "not_sent":
            error = str(answer.get("error") or "not sent")
            await self._retry_or_bury(message, error, now, today, now + retry_delay(message.attempts))
        elif state == "none":  # the worker's journal never saw it: nothing went out, and the worker answers now
            await self._retry_or_bury(message, NEVER_DELIVERED, now, today, now)
        else:
            await self.messages.finish(
                session_id,
                message_id,
                now,
                MessageStatus.UNKNOWN,
                today,
                error=f"outcome unknown ({answer.get('error') or 'worker lost the send'})",
            )
            log.warning("[%s] %s: send outcome unknown; not sent again", session_id, message_id)
            await self._sign(session_id, SEND_FAILED, message_id)
            await self.activity.add(
                WARNING,
                "message",
                f"{message_id} to +{message.to}: outcome unknown; not sent again",
                session_id,
                AlertKind.MESSAGE_UNKNOWN,
            )

    async def _next_gap(self, session_id: str) -> float:
        """The jittered gap the session waits after this send or check (0 if the session is gone)."""
        session = await self.sessions.find(session_id)
        return draw_gap(await self.timing.tier_of(session)) if session else 0.0

    async def _checked(self, session_id: str, message: Message, on_whatsapp: bool, now: float, today: str) -> None:
        """A number check's answer: kept on the check, paced like a send; a number not on WhatsApp is a bad sign."""
        gap = await self._next_gap(session_id)
        if not await self.messages.finish_check(session_id, message.id, now, on_whatsapp, today, gap):
            return
        found = "is on WhatsApp" if on_whatsapp else "is not on WhatsApp"
        await self.activity.add(INFO, "message", f"{message.id}: +{message.to} {found}", session_id)
        if not on_whatsapp:
            await self._sign(session_id, NOT_ON_WHATSAPP, message.id)

    async def _sign(self, session_id: str, kind: str, message_id: str) -> None:
        if self.breaker is not None:
            await self.breaker.sign(session_id, kind, message_id)

    async def _retry_or_bury(self, message: Message, error: str, now: float, today: str, retry_at: float) -> None:
        if message.attempts >= MAX_ATTEMPTS:
            await self.messages.finish(
                message.session,
                message.id,
                now,
                MessageStatus.DEAD,
                today,
                error=f"gave up after {message.attempts} attempts: {error}",
            )
            await self.activity.add(
                ERROR,
                "message",
                f"{message.id} to +{message.to} dead after {message.attempts} attempts: {error}",
                message.session,
                AlertKind.MESSAGE_DEAD,
            )
            await self._sign(message.session, SEND_FAILED, message.id)
        else:
            await self.messages.retry(message.session, message.id, error, retry_at)


class SessionLoop:
    """Sends one session's queue."""

    def __init__(self, dispatcher: Dispatcher, session_id: str) -> None:
        self.d = dispatcher
        self.session_id = session_id
        self._wake = asyncio.Event()
        self._changed = False  # a wake other than an arrival came during this step
        self.arrivals_matter = False  # an arrival matters: the queue looked empty, or each message in it is held
        self.task = asyncio.create_task(self._run(), name=f"dispatch:{session_id}")

    def wake(self) -> None:
        """Something about the session changed: decide again now."""
        self._changed = True
        self._wake.set()

    def arrived(self) -> None:
        """A message joined the tail: it matters only if the queue looked empty."""
        if self.arrivals_matter:
            self._wake.set()

    async def _run(self) -> None:
        while not self.d._stopping.is_set():
            try:
                if not await self._step():
                    return
            except Fenced:  # another core is active now: this one stops sending at once
                return
            except Exception as error:  # an outage or a full Redis is reported once, not by every loop
                if not is_outage(error) and not await self.d.activity.redis_full(error):
                    log.exception("[%s] dispatcher step failed; trying again", self.session_id)
                await asyncio.sleep(STEP_RETRY_S)

    async def _step(self) -> bool:
        """One decision; False when the session is gone."""
        self.arrivals_matter = True  # before reading the head: an arrival after the read wakes us
        self._changed = False
        self._wake.clear()  # here, not in _wait: a wake that comes during this step ends the wait at once
        data, inflight, head = await self.d.messages.queue_state(self.session_id)
        if not data:
            return False
        if head:
            self._settle_arrivals()
        session = from_redis_hash(Session, data)
        if inflight:
            await self._reconcile(session)
            return True
        first = await self.d.messages.find(head) if head else None
        self.arrivals_matter = True  # while planning: if every message waits for its recipient, one arriving may not
        plan = await self.d.timing.plan(session, first) if first else None
        if plan is None or plan.message is None:
            await self._wait(math.inf)
            return True
        if plan.hold.reason not in RECIPIENT_HOLDS:
            self._settle_arrivals()
        message, at = plan.message, plan.hold.at
        if at > self.d.clock.now():
            woken = await self._wait(at - self.d.clock.now())
            if woken or self.d.clock.now() < at:
                return True  # something changed (or the wait was capped): decide again
        await self._send(session, message, at)  # nothing changed while waiting: the plan stands
        return True

    def _settle_arrivals(self) -> None:
        """The queue had a head: arrivals since the step began went behind it and change nothing
        (without this, a busy intake would make the loop decide again on every arrival)."""
        self.arrivals_matter = False
        if not self._changed:
            self._wake.clear()

    async def _wait(self, seconds: float) -> bool:
        """Wait ``seconds`` of clock time (at most a real poll interval); True if woken early."""
        real = min(self.d.clock.real_seconds(seconds), POLL_REAL_S)
        try:
            await asyncio.wait_for(self._wake.wait(), real)
        except TimeoutError:
            return False
        return True

    async def _send(self, session: Session, message: Message, planned: float) -> None:
        now = self.d.clock.now()
        if not await self.d.messages.start(self.session_id, message.id, now):
            return
        self.d.lateness.append(self.d.clock.real_seconds(now - planned))
        try:
            answer = await self._command(session, message)
        except WorkerUnreachable as error:
            log.warning(
                "[%s] %s: send not confirmed (%s); asking the worker's journal",
                self.session_id,
                message.id,
                error.message,
            )
            return
        await self.d.settle(self.session_id, message.id, answer)

    async def _command(self, session: Session, message: Message) -> dict[str, Any]:
        """Have the worker send the text (typing first), or ask whether the number of a check is on WhatsApp."""
        if message.kind == CHECK:
            return await self.d.workers.command(session, "check", timeout=30.0, messageId=message.id, to=message.to)
        typing = self.d.clock.real_seconds(typing_seconds(message.text))
        return await self.d.workers.command(
            session,
            "send",
            timeout=typing + 30.0,
            messageId=message.id,
            to=message.to,
            text=message.text,
            typingSeconds=typing,
        )

    async def _reconcile(self, session: Session) -> None:
        """Settle in-flight messages from the worker's journal (after a crash or a lost answer)."""
        for message_id in await self.d.messages.inflight(self.session_id):
            try:
                answer = await self.d.workers.command(session, "status", messageId=message_id)
            except WorkerUnreachable:
                await self._wait(math.inf)
                return
            await self.d.settle(self.session_id, message_id, answer)
