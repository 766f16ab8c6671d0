"""The watchdog: dead or silent workers are restarted with backoff; crash loops are parked."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from waorch.core import keys
from waorch.core.activity import WARNING, ActivityLog
from waorch.core.alerts import AlertKind
from waorch.core.lifecycle import Lifecycle
from waorch.core.runners.base import DEAD, Liveness
from waorch.core.sessions import RUNNING, Session, SessionStore, Status
from waorch.core.start_queue import StartQueue

log = logging.getLogger("waorch.watchdog")

CRASH_WINDOW_S = 600
CRASH_LIMIT = 5
MAX_BACKOFF_S = 60.0


@dataclass(frozen=True)
class Survey:
    """What one pass saw before taking any session's lock: each session's worker (its ref and generation) as
    listed, and the runner's answer about those workers."""

    workers: dict[str, tuple[str, int]]
    liveness: dict[str, Liveness]

    def of(self, session: Session) -> Liveness | None:
        """The session's worker as seen, if it is still the worker seen (not started or stopped since: a new one
        may even have the same ref, in the same worker host); ``None``: it must be asked about again."""
        if self.workers.get(session.id) != (session.worker, session.generation):
            return None
        return self.liveness.get(session.worker)


class Watchdog:
    """Checks every session that should have a running worker."""

    def __init__(
        self, store: SessionStore, lifecycle: Lifecycle, starts: StartQueue, ping_timeout_ms: int, activity: ActivityLog
    ) -> None:
        self.store = store
        self.activity = activity
        self.lifecycle = lifecycle
        self.starts = starts
        self.ping_timeout = ping_timeout_ms / 1000
        # Silence counts from here at the earliest: while no core was active (a restart, a Redis
        # outage) workers could not deliver their pings; the core sets it each time it starts acting.
        self.quiet_since = 0.0

    async def check_once(self) -> None:
        """One pass: adopt live workers, restart dead or silent ones, re-queue lost provisions. The runner is asked
        about every worker at once (each worker host once), each decision is still taken under its session's lock."""
        pending = set(await self.starts.pending())
        sessions = [session for session in await self.store.list() if session.id not in pending]
        survey = await self._survey([session for session in sessions if session.status in RUNNING])
        for session in sessions:
            if session.status == Status.PROVISIONING:
                await self._requeue(session.id)
            elif session.status in RUNNING:
                await self.check(session.id, survey)

    async def _survey(self, sessions: list[Session]) -> Survey:
        workers = {session.id: (session.worker, session.generation) for session in sessions if session.worker}
        refs = [worker for worker, _ in workers.values()]
        return Survey(workers, await self.lifecycle.runner.survey(refs))

    async def _requeue(self, session_id: str) -> None:
        """Queue the start of a provision whose start was lost (a crash between taking it and starting it);
        under the session's lock, so a start still under way (waiting for its placement) is not queued twice."""
        async with self.lifecycle.locks.hold(session_id):
            current = await self.store.find(session_id)
            if current is not None and current.status == Status.PROVISIONING and not current.worker:
                if await self.starts.due_at(session_id) is None:
                    await self.starts.enqueue(session_id)

    async def check(self, session_id: str, survey: Survey | None = None) -> None:
        """Restart the session's worker if it should run and is dead or silent (never while it is
        started, stopped or deleted, nor while a start of it is queued); move it if its process is drained.
        What ``survey`` saw of its worker counts only if that is still its worker; else it is asked about now."""
        async with self.lifecycle.locks.hold(session_id):
            current = await self.store.find(session_id)
            if current is not None and current.status in RUNNING and await self.starts.due_at(session_id) is None:
                await self._check(current, await self._liveness(current, survey))

    async def _liveness(self, session: Session, survey: Survey | None) -> Liveness:
        if not session.worker:
            return DEAD
        seen = survey.of(session) if survey else None
        if seen is None:
            seen = (await self.lifecycle.runner.survey([session.worker]))[session.worker]
        return seen

    async def _check(self, session: Session, worker: Liveness) -> None:
        silence = self._silence(session)
        if worker.alive and silence <= self.ping_timeout:
            if worker.move:
                await self._move(session, worker.move)
            return
        if not worker.alive:  # nothing more goes to its address: another process may listen there now
            await self.store.forget_command_address(session.id, session.worker)
        problem = "worker exited" if not worker.alive else f"no ping for {silence:.0f} s"
        await self.restart(session, problem)

    async def _move(self, session: Session, why: str) -> None:
        """Start the session's worker again now, elsewhere (not a crash: no backoff, not counted)."""
        log.warning("[%s] moving its worker: %s", session.id, why)
        await self.activity.add(WARNING, "move", f"worker moves to another process: {why}", session.id)
        await self.starts.enqueue(session.id)

    def _silence(self, session: Session) -> float:
        """Real seconds since the worker was last heard (0 before its first ping): workers ping in
        real time, whatever the clock's pace."""
        if not session.last_ping:
            return 0.0
        clock = self.store.clock
        return clock.real_seconds(clock.now() - max(session.last_ping, self.quiet_since))

    async def restart(self, session: Session, problem: str) -> None:
        """Queue a restart after a backoff, or park the session as ``failed`` in a crash loop (keeping
        why its worker last failed, and what to check about it)."""
        key = keys.session_restarts(session.id)
        now = self.store.clock.now()
        async with self.store.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, 0, now - CRASH_WINDOW_S)
            pipe.zadd(key, {str(now): now})
            pipe.zcard(key)
            pipe.expire(key, CRASH_WINDOW_S)
            recent = (await pipe.execute())[2]
        if recent > CRASH_LIMIT:
            await self.lifecycle.stop(session.id)
            last = f"; last: {session.reason}" if session.reason else ""
            await self.store.set_status(
                session.id,
                Status.FAILED,
                f"crash loop: {recent} restarts in {CRASH_WINDOW_S // 60} min ({problem}){last}",
                session.hint,
            )
            log.error("[%s] crash loop; parked as failed", session.id)
            return
        delay = min(2.0 ** (recent - 1), MAX_BACKOFF_S)
        log.warning("[%s] %s; restarting in %.0f s", session.id, problem, delay)
        await self.store.update(session.id, restarts=session.restarts + 1)
        await self.store.record(session.id, "restart", {"problem": problem, "delay": delay})
        await self.activity.add(
            WARNING, "restart", f"{problem}; worker restarts in {delay:.0f} s", session.id, AlertKind.RESTARTED
        )
        await self.starts.enqueue(session.id, delay)
