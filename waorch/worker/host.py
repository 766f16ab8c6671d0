"""A worker host (density mode, ``SESSIONS_PER_WORKER`` > 1): one process running up to N sessions' workers,
each still with its own engine, proxy, auth dir, send journal, event spool, command endpoint, keys, pings
and log file. To the core each is a session like any other.

The runner (:mod:`waorch.core.runners.hosted`) controls it over HTTP on loopback, each request signed with
the host's key (``HOST_KEY``, derived from the master secret and ``HOST_ID``):

- ``GET /sessions``: ``{"sessions": {id: generation}, "capacity": N, "hung": n, "asked": n}`` (``hung``: its
  sessions that hung, then it takes no new one; ``asked``: how many times it has been asked this, this time
  included: the orchestrator's watchdog asks each host once a pass);
- ``POST /sessions`` ``{"environment": {...}}``: start a session's worker (its variables, as a worker process
  gets them, plus ``LOG_PATH``); 400 if they are not valid, 409 if it runs here already, 507 if full;
- ``POST /sessions/{id}/stop`` ``{"timeout": s}``: stop it and wait; 504 if it did not end in time.

Once listening it writes ``HOSTS_DIR/<HOST_ID>.json`` (0600: its port and process ref) for the runner to find
it, after an orchestrator restart too. It ends on SIGTERM (stopping every session first) or once it has run
no session for ``LINGER_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import os
import signal
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from aiohttp import web

from waorch.cancel import first_of
from waorch.config import WorkerSettings, load_worker_settings
from waorch.errors import ConfigError, SignatureError
from waorch.logs import LOG_FORMAT
from waorch.private_files import create_private, private_dir, private_file
from waorch.signing import MemoryReplayGuard, verify_once
from waorch.worker.main import EXIT_CODES, run_worker

log = logging.getLogger("waorch.worker.host")

LINGER_S = 5.0
STOP_ALL_S = 10.0
SESSION: contextvars.ContextVar[str] = contextvars.ContextVar("waorch_hosted_session", default="")


class SessionLogs(logging.Handler):
    """Each record to the log file of the session whose task wrote it; the rest to the host's own log."""

    def __init__(self, host_log: logging.Handler) -> None:
        super().__init__()
        self.host_log = host_log
        self.files: dict[str, logging.FileHandler] = {}

    def open(self, session_id: str, path: Path) -> None:
        """Write ``session_id``'s records to ``path`` (0600, appended)."""
        private_dir(path.parent)
        handler = logging.FileHandler(private_file(path), encoding="utf-8")
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        self.files[session_id] = handler

    def close_session(self, session_id: str) -> None:
        """Close ``session_id``'s file."""
        handler = self.files.pop(session_id, None)
        if handler is not None:
            handler.close()

    def emit(self, record: logging.LogRecord) -> None:
        """See ``logging.Handler.emit``."""
        self.files.get(SESSION.get(), self.host_log).handle(record)


@dataclass
class Hosted:
    """A session's worker running here."""

    generation: int
    stop: asyncio.Event
    task: asyncio.Task[int]


class WorkerHost:
    """Serves the runner's requests and runs the sessions (see the module's docstring)."""

    def __init__(self, host_id: str, key: str, capacity: int, hosts_dir: Path, logs: SessionLogs) -> None:
        self.host_id = host_id
        self.key = key
        self.capacity = capacity
        self.hosts_dir = hosts_dir
        self.logs = logs
        self.sessions: dict[str, Hosted] = {}
        self.hung = 0  # sessions that ended with a neonize call that never returned: the host takes no more
        self.asked = 0  # GET /sessions answered
        self._guard = MemoryReplayGuard()
        self._changed = asyncio.Event()
        self._ending = asyncio.Event()

    async def serve(self) -> int:
        """Listen, announce, run until SIGTERM or an idle ``LINGER_S``; 0."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._ending.set)
        # each neonize client holds a thread of the default executor for its life: room for all, and their calls
        loop.set_default_executor(ThreadPoolExecutor(2 * self.capacity + 8, thread_name_prefix="hosted"))
        app = web.Application()
        app.router.add_get("/sessions", self._list)
        app.router.add_post("/sessions", self._start)
        app.router.add_post("/sessions/{session_id}/stop", self._stop)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        announcement = self._announce(runner)
        try:
            await self._until_done()
            await self._stop_all()
        finally:
            announcement.unlink(missing_ok=True)
            await runner.cleanup()
        if self.hung:  # a hung thread would keep the interpreter from exiting
            log.info("worker host %s ends hard: %d hung session(s) left threads behind", self.host_id, self.hung)
            logging.shutdown()
            os._exit(0)
        return 0

    def _announce(self, runner: web.AppRunner) -> Path:
        port = runner.addresses[0][1]
        me = psutil.Process()
        path = private_dir(self.hosts_dir) / f"{self.host_id}.json"
        create_private(path, json.dumps({"port": port, "ref": f"{me.pid}:{me.create_time()}"}))
        log.info("worker host %s listening on 127.0.0.1:%d for %d sessions", self.host_id, port, self.capacity)
        return path

    async def _until_done(self) -> None:
        """Until SIGTERM, or until no session has run here for ``LINGER_S``."""
        while not self._ending.is_set():
            self._changed.clear()
            timeout = LINGER_S if not self.sessions else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(first_of(self._changed.wait(), self._ending.wait()), timeout)
                continue
            if not self.sessions:
                log.info("worker host %s ends: no session for %.0f s", self.host_id, LINGER_S)
                return

    async def _stop_all(self) -> None:
        for hosted in self.sessions.values():
            hosted.stop.set()
        tasks = [hosted.task for hosted in self.sessions.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_ALL_S)

    async def _verified(self, request: web.Request) -> dict[str, Any]:
        body = await request.read()
        try:
            await verify_once(self.key, request.headers, body, self._guard)
        except SignatureError:
            raise web.HTTPUnauthorized(text="bad signature") from None
        payload = json.loads(body) if body else {}
        if not isinstance(payload, dict):
            raise web.HTTPBadRequest(text="a JSON object is expected")
        return payload

    async def _list(self, request: web.Request) -> web.Response:
        await self._verified(request)
        self.asked += 1
        sessions = {session_id: hosted.generation for session_id, hosted in self.sessions.items()}
        answer = {"sessions": sessions, "capacity": self.capacity, "hung": self.hung, "asked": self.asked}
        return web.json_response(answer)

    async def _start(self, request: web.Request) -> web.Response:
        environment = (await self._verified(request)).get("environment")
        if not isinstance(environment, dict):
            raise web.HTTPBadRequest(text="environment: an object of variables is expected")
        try:
            settings = load_worker_settings({str(key): str(value) for key, value in environment.items()})
        except ConfigError as error:
            raise web.HTTPBadRequest(text=str(error)) from None
        if settings.session_id in self.sessions:
            raise web.HTTPConflict(text=f"{settings.session_id} runs here already")
        if len(self.sessions) >= self.capacity or self.hung:
            raise web.HTTPInsufficientStorage(text=f"this host runs {self.capacity} sessions already")
        self._run(settings, environment.get("LOG_PATH"))
        return web.json_response({"started": settings.session_id}, status=201)

    def _run(self, settings: WorkerSettings, log_path: object) -> None:
        session_id, stop = settings.session_id, asyncio.Event()
        if log_path:
            self.logs.open(session_id, Path(str(log_path)))
        context = contextvars.copy_context()
        context.run(SESSION.set, session_id)
        task = asyncio.get_running_loop().create_task(run_worker(settings, stop), context=context)
        self.sessions[session_id] = Hosted(settings.generation, stop, task)
        task.add_done_callback(lambda done: self._ended(session_id, done))
        self._changed.set()

    def _ended(self, session_id: str, task: asyncio.Task[int]) -> None:
        hosted = self.sessions.get(session_id)
        if hosted is not None and hosted.task is task:
            del self.sessions[session_id]
        crashed = task.cancelled() or task.exception() is not None
        outcome = "crashed" if crashed else f"exit code {task.result()}"
        if not crashed and task.result() == EXIT_CODES["hung"]:
            self.hung += 1  # its thread is stuck here for good: this host takes no new session (drained)
        log.info("session %s ended here (%s)", session_id, outcome)
        self.logs.close_session(session_id)
        self._changed.set()

    async def _stop(self, request: web.Request) -> web.Response:
        timeout = float((await self._verified(request)).get("timeout", 10.0))
        hosted = self.sessions.get(request.match_info["session_id"])
        if hosted is None:
            return web.json_response({"stopped": True})
        hosted.stop.set()
        done, _ = await asyncio.wait([hosted.task], timeout=max(0.1, timeout))
        if not done:
            self.hung += 1
            raise web.HTTPGatewayTimeout(text="the session did not end in time")
        return web.json_response({"stopped": True})


def run_host(environ: Mapping[str, str], host_log: logging.Handler) -> int:
    """``waorch worker-host``: the host configured by ``HOST_ID``, ``HOST_KEY``, ``HOST_CAPACITY``, ``HOSTS_DIR``."""
    logs = SessionLogs(host_log)
    root = logging.getLogger()
    root.handlers[:] = [logs]
    root.setLevel(logging.INFO)
    host = WorkerHost(
        environ["HOST_ID"],
        environ["HOST_KEY"],
        int(environ.get("HOST_CAPACITY", "1")),
        Path(environ["HOSTS_DIR"]),
        logs,
    )
    return asyncio.run(host.serve())
