"""Starting and stopping one session's worker through the configured runner."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from waorch.config import Settings
from waorch.core.proxy_pool import ProxyPool
from waorch.core.runners.base import Runner, WorkerSpec
from waorch.core.sessions import Session, SessionStore, Status
from waorch.errors import WaorchError
from waorch.signing import command_key, webhook_key

log = logging.getLogger("waorch.lifecycle")


class SessionLocks:
    """One lock per session, so that its worker's start, its stop and the session's deletion never
    interleave (a delete during a start left a logged-in worker running for a session that was gone).

    Re-entrant for the task that holds it: a delete that stops the worker takes it once."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._holders: dict[str, asyncio.Task[Any] | None] = {}
        self._users: dict[str, int] = {}  # holding or waiting, so an idle session's lock is dropped

    @contextlib.asynccontextmanager
    async def hold(self, session_id: str) -> AsyncIterator[None]:
        """Hold ``session_id``'s lock for the block."""
        task = asyncio.current_task()
        if self._holders.get(session_id) is task:
            yield
            return
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        self._users[session_id] = self._users.get(session_id, 0) + 1
        try:
            async with lock:
                self._holders[session_id] = task
                try:
                    yield
                finally:
                    self._holders.pop(session_id, None)
        finally:
            self._release(session_id)

    def _release(self, session_id: str) -> None:
        self._users[session_id] -= 1
        if not self._users[session_id]:
            del self._users[session_id], self._locks[session_id]


def worker_log_path(settings: Settings, session_id: str) -> Path:
    """The log file of ``session_id``'s worker."""
    return settings.data_dir / "logs" / f"{session_id}.log"


class Lifecycle:
    """Builds a worker's environment, starts it, stops it, and owns its auth dir."""

    def __init__(self, settings: Settings, store: SessionStore, pool: ProxyPool, runner: Runner) -> None:
        self.settings = settings
        self.store = store
        self.pool = pool
        self.runner = runner
        self.locks = SessionLocks()

    def auth_dir(self, session_id: str) -> Path:
        """``SESSIONS_DIR/<id>``: the session's login data."""
        return self.settings.sessions_dir / session_id

    def log_path(self, session_id: str) -> Path:
        """The worker's log file."""
        return worker_log_path(self.settings, session_id)

    def engine_of(self, session: Session) -> str:
        """The engine the session was created with (sessions from before engines were recorded: the
        configured one, which is then recorded). A session created on the simulator needs SIM_URL."""
        engine = session.engine or self.settings.worker_engine
        if engine == "sim" and not self.settings.sim_url:
            raise WaorchError(
                f"{session.id} was created on the simulator (WORKER_ENGINE=sim) and SIM_URL is not set; "
                "set SIM_URL to run it there, or delete it",
                session_id=session.id,
            )
        return engine

    async def environment(self, session: Session, generation: int) -> dict[str, str]:
        """The variables a worker is started with (only its own keys, never the master secret)."""
        s, session_id = self.settings, session.id
        proxy = await self.pool.url_of(session.proxy)
        env = {
            "SESSION_ID": session_id,
            "WEBHOOK_URL": s.worker_webhook_url,
            "WEBHOOK_KEY": webhook_key(s.webhook_secret, session_id),
            "COMMAND_KEY": command_key(s.webhook_secret, session_id, generation),
            "AUTH_DIR": str(self.auth_dir(session_id)),
            "WORKER_ENGINE": self.engine_of(session),
            "WORKER_GENERATION": str(generation),
            "PING_INTERVAL_MS": str(s.ping_interval_ms),
            "CONNECT_TIMEOUT_MS": str(s.worker_connect_timeout_ms),
            "DEVICE_NAME": s.device_name,
            "PROXY_URL": proxy.url if proxy else "",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONUNBUFFERED": "1",
        }
        if s.sim_url:
            env["SIM_URL"] = s.sim_url
        return env

    async def start(self, session_id: str) -> None:
        """Start (or restart) the session's worker; a failure marks the session ``failed``."""
        async with self.locks.hold(session_id):
            session = await self.store.find(session_id)
            if session is None:
                return
            await self.stop(session_id)
            generation = session.generation + 1
            try:
                spec = WorkerSpec(
                    session_id,
                    await self.environment(session, generation),
                    self.auth_dir(session_id),
                    self.log_path(session_id),
                )
                ref = await self.runner.start(spec)
            except WaorchError as error:
                await self.store.set_status(session_id, Status.FAILED, f"worker did not start: {error.message}")
                return
            await self._record(session, ref, generation)

    async def _record(self, session: Session, ref: str, generation: int) -> None:
        """Note the new worker in its session; if that cannot be done (the session is gone, Redis went
        away) the worker must not run: nobody would know of it."""
        reason = session.reason if session.status == Status.STARTING else ""
        try:
            recorded = await self.store.set_status(
                session.id,
                Status.STARTING,
                reason,
                worker=ref,
                generation=generation,
                command_url="",
                last_ping=self.store.clock.now(),
                engine=self.engine_of(session),
            )
        except Exception:
            await self.runner.stop(ref, 5.0)
            raise
        if not recorded:
            log.warning("[%s] the session was deleted while its worker started; stopping that worker", session.id)
            await self.runner.stop(ref, 5.0)
            self.delete_auth(session.id)
            return
        log.info("[%s] worker started (generation %d)", session.id, generation)

    async def stop(self, session_id: str, timeout: float = 10.0) -> None:
        """Stop the session's worker if it runs."""
        async with self.locks.hold(session_id):
            session = await self.store.find(session_id)
            if session is not None and session.worker:
                await self.runner.stop(session.worker, timeout)
                await self.store.update(session_id, worker="", command_url="")

    async def is_alive(self, session_id: str) -> bool:
        """Whether the session's worker process/container runs."""
        session = await self.store.find(session_id)
        return bool(session and session.worker and (await self.runner.survey([session.worker]))[session.worker].alive)

    def delete_auth(self, session_id: str) -> None:
        """Delete the session's login data (after a logout or a delete)."""
        shutil.rmtree(self.auth_dir(session_id), ignore_errors=True)
