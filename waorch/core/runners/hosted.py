"""Hosted runner (density mode, ``SESSIONS_PER_WORKER`` = N > 1): up to N sessions' workers in one worker host
process (:mod:`waorch.worker.host`), each still a session of its own to the core.

Placement is the runner's: a new session goes to the least loaded host below N, or to a new host (started
detached by the process runner, as a worker is). A session's ref is ``<host id>@<host process ref>/<session>``:
after an orchestrator restart the hosts are found again by their announcement (``DATA_DIR/hosts/<id>.json``)
and their sessions adopted. A host whose process is gone takes its sessions with it: each is restarted by the
watchdog like a dead worker (one restart each). A session that does not stop in time makes its host be
killed (its other sessions restart elsewhere): a session must never run twice. A host with no session left
ends by itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import aiohttp

from waorch.config import Settings
from waorch.core.runners.base import DEAD, Liveness, Stray, WorkerSpec
from waorch.core.runners.process import ProcessRunner
from waorch.errors import RunnerError
from waorch.signing import derive_key, sign

log = logging.getLogger("waorch.runner.hosted")

ANNOUNCE_TIMEOUT_S = 30.0
POLL_S = 0.02
REQUEST_TIMEOUT_S = 10.0
EXIT_GRACE_S, EXIT_GRACE_STEPS = 1.0, 10  # a host that did not answer: how long it may take to finish exiting


@dataclass(frozen=True)
class Host:
    """A worker host: its id, its process's ref, its port, its key."""

    id: str
    process: str
    port: int
    key: str


@dataclass(frozen=True)
class HostState:
    """What a host runs: its sessions (id: generation), how many of its sessions hung (then it is drained: no new
    session goes there), and how many times it has been asked this (this time included)."""

    sessions: dict[str, int]
    hung: int
    asked: int

    def has_room(self, capacity: int) -> bool:
        """A new session may go there."""
        return len(self.sessions) < capacity and not self.hung


@dataclass(frozen=True)
class HostedRef:
    """A session's ref, parsed."""

    host_id: str
    process: str
    session_id: str

    @classmethod
    def parse(cls, ref: str) -> HostedRef | None:
        """``<host id>@<process ref>/<session id>``, or ``None`` for anything else (a worker of another runner)."""
        host, at, rest = ref.partition("@")
        process, slash, session_id = rest.rpartition("/")
        return cls(host, process, session_id) if at and slash and host and process and session_id else None

    def __str__(self) -> str:
        return f"{self.host_id}@{self.process}/{self.session_id}"


class HostedRunner:
    """Places sessions in worker hosts (see the module's docstring)."""

    def __init__(self, settings: Settings, processes: ProcessRunner | None = None) -> None:
        self.settings = settings
        self.capacity = settings.sessions_per_worker
        self.hosts_dir = settings.data_dir / "hosts"
        self.processes = processes or ProcessRunner((sys.executable, "-m", "waorch", "worker-host"))
        self._placing = asyncio.Lock()
        self._http: aiohttp.ClientSession | None = None

    async def start(self, spec: WorkerSpec) -> str:
        """See ``Runner.start``: in the least loaded host with room, else in a new one."""
        environment = {**spec.environment, "LOG_PATH": str(spec.log_path)}
        async with self._placing:
            loads = [(len(state.sessions), host) for host, state in await self.hosts() if state.has_room(self.capacity)]
            host = min(loads, key=lambda load: load[0])[1] if loads else await self._new_host()
            await self._call(host, "POST", "/sessions", {"environment": environment}, spec.session_id)
            log.info("[%s] placed in worker host %s (hosts' loads: %s)", spec.session_id, host.id, loads)
        return str(HostedRef(host.id, host.process, spec.session_id))

    async def _new_host(self) -> Host:
        host_id = uuid.uuid4().hex[:12]
        environment = {
            "HOST_ID": host_id,
            "HOST_KEY": self._key(host_id),
            "HOST_CAPACITY": str(self.capacity),
            "HOSTS_DIR": str(self.hosts_dir),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONUNBUFFERED": "1",
        }
        log_path = self.settings.data_dir / "logs" / f"host_{host_id}.log"
        process = await self.processes.start(WorkerSpec(f"host_{host_id}", environment, self.hosts_dir, log_path))
        deadline = time.monotonic() + ANNOUNCE_TIMEOUT_S
        while (host := self._announced(host_id)) is None:
            if time.monotonic() > deadline or not await self.processes.is_alive(process):
                await self.processes.stop(process, 1.0)
                raise RunnerError(f"worker host {host_id} did not start: see {log_path}")
            await asyncio.sleep(POLL_S)
        return host

    def _announced(self, host_id: str) -> Host | None:
        """The host ``host_id`` as it announced itself, or ``None`` (not yet, or gone)."""
        try:
            announcement = json.loads((self.hosts_dir / f"{host_id}.json").read_text())
            port, process = int(announcement["port"]), str(announcement["ref"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return Host(host_id, process, port, self._key(host_id))

    def _key(self, host_id: str) -> str:
        """The key a host's requests are signed with (derived from the master secret, as workers' keys are)."""
        return derive_key(self.settings.webhook_secret, "host", host_id)

    async def hosts(self) -> list[tuple[Host, HostState]]:
        """Every live host with the sessions it runs (the announcements of dead ones are removed)."""
        found = []
        for path in sorted(self.hosts_dir.glob("*.json")) if self.hosts_dir.is_dir() else []:
            host = self._announced(path.stem)
            if host is None or not await self.processes.is_alive(host.process):
                path.unlink(missing_ok=True)
                continue
            found.append((host, await self._state(host)))
        return found

    async def _state(self, host: Host) -> HostState:
        answer = await self._call(host, "GET", "/sessions")
        sessions = answer.get("sessions")
        return HostState(
            {str(key): int(value) for key, value in sessions.items()} if isinstance(sessions, dict) else {},
            _count(answer, "hung"),
            _count(answer, "asked"),
        )

    async def _call(
        self, host: Host, method: str, path: str, payload: dict[str, Any] | None = None, session_id: str = ""
    ) -> dict[str, Any]:
        """A signed request to ``host``; its JSON answer (``RunnerError`` if it refuses or does not answer)."""
        body = json.dumps(payload).encode() if payload is not None else b""
        headers = {**sign(host.key, body), "Content-Type": "application/json"}
        timeout = float(payload.get("timeout", 0) if payload else 0) + REQUEST_TIMEOUT_S
        try:
            async with self._session().request(
                method,
                f"http://127.0.0.1:{host.port}{path}",
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                if response.status >= 300:
                    text = (await response.text())[:300]
                    raise RunnerError(f"worker host {host.id}: {response.status} {text}", session_id=session_id)
                answer = await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise RunnerError(f"worker host {host.id} does not answer ({error!r})", session_id=session_id) from None
        return answer if isinstance(answer, dict) else {}

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S))
        return self._http

    async def stop(self, ref: str, timeout: float = 10.0) -> None:
        """See ``Runner.stop``: the host stops the session; if it does not end in time the host is killed
        (its other sessions restart elsewhere): a session must never run twice."""
        parsed, host = self._host_of(ref)
        if parsed is None or host is None or not await self.processes.is_alive(host.process):
            return
        try:
            await self._call(host, "POST", f"/sessions/{parsed.session_id}/stop", {"timeout": timeout})
        except RunnerError:
            await self.processes.stop(host.process, 1.0)

    def _host_of(self, ref: str) -> tuple[HostedRef | None, Host | None]:
        parsed = HostedRef.parse(ref)
        host = self._announced(parsed.host_id) if parsed else None
        return parsed, host if host is not None and parsed is not None and host.process == parsed.process else None

    async def survey(self, refs: Collection[str]) -> dict[str, Liveness]:
        """See ``Runner.survey``: each host the refs name is asked once, all at once (its announcement, its
        process, its sessions); a session runs if its host runs it, and moves if that host is drained (a session
        there hung). A live host that does not answer is taken to run its sessions: their pings decide (a silent
        one is restarted, and its stop ends the host), and the other hosts' sessions are checked all the same."""
        parsed = {ref: HostedRef.parse(ref) for ref in refs}
        hosts = sorted({(ref.host_id, ref.process) for ref in parsed.values() if ref is not None})
        states = dict(zip(hosts, await asyncio.gather(*(self._answer_of(*host) for host in hosts)), strict=True))
        return {
            ref: _liveness(hosted, states[hosted.host_id, hosted.process]) if hosted else DEAD
            for ref, hosted in parsed.items()
        }

    async def _answer_of(self, host_id: str, process: str) -> HostState | RunnerError | None:
        """``_state_of``, or why the live host did not answer."""
        try:
            return await self._state_of(host_id, process)
        except RunnerError as error:
            if not await self._still_running(process):  # it was exiting: refused or reset, then gone
                return None
            log.warning("worker host %s does not answer (%s): its sessions' pings decide", host_id, error.message)
            return error

    async def _still_running(self, process: str) -> bool:
        """Whether a host that did not answer still runs once a process that was exiting has had time to end."""
        for _ in range(EXIT_GRACE_STEPS):
            if not await self.processes.is_alive(process):
                return False
            await asyncio.sleep(EXIT_GRACE_S / EXIT_GRACE_STEPS)
        return await self.processes.is_alive(process)

    async def _state_of(self, host_id: str, process: str) -> HostState | None:
        """What the host ``host_id`` runs if it is still the process ``process``; ``None`` if it is gone."""
        host = self._announced(host_id)
        if host is None or host.process != process or not await self.processes.is_alive(process):
            return None
        return await self._state(host)

    async def strays(self, known: Collection[str]) -> list[Stray]:
        """See ``Runner.strays``: sessions running in a host under a ref no session holds."""
        strays = []
        for host, state in await self.hosts():
            for session_id in state.sessions:
                ref = str(HostedRef(host.id, host.process, session_id))
                if ref not in known:
                    strays.append(Stray(ref, f"{session_id} in worker host {host.id}", session_id))
        return strays

    async def close(self) -> None:
        """Close the connections to the hosts (they keep running)."""
        if self._http is not None:
            await self._http.close()


def _count(answer: dict[str, Any], name: str) -> int:
    """A count in a host's answer (0 if it is missing: a host of an older version)."""
    value = answer.get(name)
    return value if isinstance(value, int) else 0


def _liveness(ref: HostedRef, state: HostState | RunnerError | None) -> Liveness:
    """A session's worker as its host's state says (a host that did not answer: taken to run it)."""
    if isinstance(state, RunnerError):
        return Liveness(True)
    if state is None or ref.session_id not in state.sessions:
        return DEAD
    return Liveness(True, f"its worker host {ref.host_id} is drained: a session there hung" if state.hung else None)
