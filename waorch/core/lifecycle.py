"""Starting and stopping one session's worker through the configured runner."""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

from waorch.config import Settings
from waorch.core.proxy_pool import ProxyPool
from waorch.core.runners.base import Runner, WorkerSpec
from waorch.core.sessions import SessionStore, Status
from waorch.errors import WaorchError
from waorch.signing import command_key, webhook_key

log = logging.getLogger("waorch.lifecycle")


class Lifecycle:
    """Builds a worker's environment, starts it, stops it, and owns its auth dir."""

    def __init__(self, settings: Settings, store: SessionStore, pool: ProxyPool, runner: Runner) -> None:
        self.settings = settings
        self.store = store
        self.pool = pool
        self.runner = runner

    def auth_dir(self, session_id: str) -> Path:
        """``SESSIONS_DIR/<id>``: the session's login data."""
        return self.settings.sessions_dir / session_id

    def log_path(self, session_id: str) -> Path:
        """The worker's log file."""
        return self.settings.data_dir / "logs" / f"{session_id}.log"

    async def environment(self, session_id: str, proxy_id: str, generation: int) -> dict[str, str]:
        """The variables a worker is started with (only its own keys, never the master secret)."""
        s = self.settings
        proxy = await self.pool.url_of(proxy_id)
        env = {
            "SESSION_ID": session_id, "WEBHOOK_URL": s.worker_webhook_url,
            "WEBHOOK_KEY": webhook_key(s.webhook_secret, session_id),
            "COMMAND_KEY": command_key(s.webhook_secret, session_id, generation),
            "AUTH_DIR": str(self.auth_dir(session_id)), "WORKER_ENGINE": s.worker_engine,
            "WORKER_GENERATION": str(generation), "PING_INTERVAL_MS": str(s.ping_interval_ms),
            "CONNECT_TIMEOUT_MS": str(s.worker_connect_timeout_ms),
            "DEVICE_NAME": s.device_name, "PROXY_URL": proxy.url if proxy else "",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONUNBUFFERED": "1",
        }
        if s.sim_url:
            env["SIM_URL"] = s.sim_url
        return env

    async def start(self, session_id: str) -> None:
        """Start (or restart) the session's worker; a failure marks the session ``failed``."""
        session = await self.store.find(session_id)
        if session is None:
            return
        await self.stop(session_id)
        generation = session.generation + 1
        try:
            spec = WorkerSpec(session_id, await self.environment(session_id, session.proxy, generation),
                              self.auth_dir(session_id), self.log_path(session_id))
            ref = await self.runner.start(spec)
        except WaorchError as error:
            await self.store.set_status(session_id, Status.FAILED, f"worker did not start: {error.message}")
            return
        try:
            await self.store.set_status(session_id, Status.STARTING, session.reason if session.status == Status.STARTING else "",
                                        worker=ref, generation=generation, command_url="", last_ping=time.time())
        except Exception:  # e.g. Redis went away: a worker nobody knows of must not run (the watchdog starts it again)
            await self.runner.stop(ref, 5.0)
            raise
        log.info("[%s] worker started (generation %d)", session_id, generation)

    async def stop(self, session_id: str, timeout: float = 10.0) -> None:
        """Stop the session's worker if it runs."""
        session = await self.store.find(session_id)
        if session is not None and session.worker:
            await self.runner.stop(session.worker, timeout)
            await self.store.update(session_id, worker="", command_url="")

    async def is_alive(self, session_id: str) -> bool:
        """Whether the session's worker process/container runs."""
        session = await self.store.find(session_id)
        return bool(session and session.worker and await self.runner.is_alive(session.worker))

    def delete_auth(self, session_id: str) -> None:
        """Delete the session's login data (after a logout or a delete)."""
        shutil.rmtree(self.auth_dir(session_id), ignore_errors=True)
