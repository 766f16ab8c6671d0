"""Docker runner (``RUNNER=docker``): each session's worker in a container of its own, through the Docker
Engine API (the ``docker`` package; its blocking calls run in threads).

A container is named ``wa_session_<id>`` (``<deployment>_wa_session_<id>`` outside the default deployment),
labelled with its deployment and session, and started with the worker's environment, its login data
mounted (its own directory bound from the Docker host, or the sessions volume at the same path), memory and
pids limits, the orchestrator's uid (the login data stays the orchestrator's) and no restart policy: the
watchdog decides what restarts. Its ref is the container id, so after an orchestrator restart a running
container is adopted; whatever holds a session's container name is removed before a new one starts, so a
session never runs twice. When a container is removed its output is appended to the worker's log file.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import time
from collections.abc import Collection
from typing import Any

import docker
from docker.errors import APIError, DockerException, NotFound
from docker.types import LogConfig, Mount

from waorch.config import Settings
from waorch.core.lifecycle import worker_log_path
from waorch.core.runners.base import Liveness, Stray, WorkerSpec
from waorch.errors import RunnerError
from waorch.private_files import private_dir, private_file

DEPLOYMENT_LABEL = "waorch.deployment"
SESSION_LABEL = "waorch.session"
KEPT_OUTPUT_LINES = 10_000  # of a removed container's output, appended to the worker's log file
API_TIMEOUT_S = 60
LOG_OPTIONS = {"max-size": "10m", "max-file": "3"}
SESSION_ID = re.compile(r"worker_\d+")


def connect(docker_host: str | None) -> docker.DockerClient:
    """A client of the Docker engine at ``docker_host`` (unset: ``DOCKER_HOST`` or the local socket), checked
    with a ping: ``RunnerError`` saying where it looked and what to do if the engine does not answer."""
    where = docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.DockerClient(base_url=where, timeout=API_TIMEOUT_S)
        client.ping()
    except DockerException as error:
        raise RunnerError(
            f"Docker does not answer at {where} ({said(error)}): start dockerd, or set DOCKER_HOST "
            "(RUNNER=docker starts each worker in a container)"
        ) from None
    return client


def said(error: Exception) -> str:
    """A Docker error in one line (``APIError`` carries the engine's own explanation)."""
    text = str(getattr(error, "explanation", "") or error)
    return " ".join(text.split())[:300]


class DockerRunner:
    """Runs the worker image per session (see the module's docstring)."""

    def __init__(self, settings: Settings, client: docker.DockerClient | None = None) -> None:
        self.settings = settings
        self.config = settings.containers
        self.client = client or connect(self.config.docker_host)

    def name_of(self, session_id: str) -> str:
        """The container name of ``session_id``'s worker."""
        return self.config.prefix + session_id

    async def start(self, spec: WorkerSpec) -> str:
        """See ``Runner.start``."""
        return await asyncio.to_thread(self._start, spec)

    def _start(self, spec: WorkerSpec) -> str:
        name = self.name_of(spec.session_id)
        try:
            self._remove(name, 5.0)  # a container of this session the orchestrator lost track of
            private_dir(spec.auth_dir)  # a missing bind source would be created by the engine, as root
            container = self.client.containers.create(self.config.image, name=name, **self._options(spec, name))
            container.start()
        except DockerException as error:
            raise RunnerError(f"cannot start container {name}: {said(error)}", session_id=spec.session_id) from None
        return str(container.id)

    def _options(self, spec: WorkerSpec, name: str) -> dict[str, Any]:
        config = self.config
        network: dict[str, Any] = {"network_mode": "host"} if config.network == "host" else {"network": config.network}
        return {
            **network,
            "environment": self.environment(spec, name),
            "labels": self.labels(spec.session_id),
            "mounts": [self.mount(spec)],
            "mem_limit": f"{config.memory_mb}m",
            "pids_limit": config.pids_limit,
            "restart_policy": {"Name": "no"},
            "user": self.user,
            "init": True,
            "log_config": LogConfig(type="json-file", config=LOG_OPTIONS),
        }

    def environment(self, spec: WorkerSpec, name: str) -> dict[str, str]:
        """The worker's variables (the image sets PATH); off host networking the orchestrator reaches its
        command port by its name."""
        environment = {key: value for key, value in spec.environment.items() if key != "PATH"}
        if self.config.network != "host":
            environment |= {"COMMAND_HOST": "0.0.0.0", "ADVERTISE_HOST": name}  # noqa: S104
        return environment

    def labels(self, session_id: str) -> dict[str, str]:
        """What tells this deployment's workers, and whose each is."""
        return {DEPLOYMENT_LABEL: self.config.deployment, SESSION_LABEL: session_id}

    @property
    def user(self) -> str:
        """The orchestrator's uid:gid: the login data a worker writes stays the orchestrator's."""
        return f"{os.getuid()}:{os.getgid()}"

    def mount(self, spec: WorkerSpec) -> Mount:
        """The login data at ``AUTH_DIR``: the sessions volume at SESSIONS_DIR's path, or the session's own
        directory bound from the Docker host (SESSIONS_HOST_DIR: where SESSIONS_DIR is there)."""
        if self.config.sessions_volume:
            return Mount(str(self.settings.sessions_dir), self.config.sessions_volume, type="volume")
        host_dir = self.config.sessions_host_dir or self.settings.sessions_dir
        return Mount(str(spec.auth_dir), str(host_dir / spec.session_id), type="bind")

    async def stop(self, ref: str, timeout: float = 10.0) -> None:
        """See ``Runner.stop``: SIGTERM, SIGKILL after ``timeout``; the container is removed, its output kept."""
        await asyncio.to_thread(self._remove, ref, timeout)

    def _remove(self, ref: str, timeout: float) -> None:
        """Stop and remove the container ``ref`` (an id or a name) if there is one; whoever removes it (two
        stops may race) appends its output to the worker's log."""
        try:
            container = self.client.containers.get(ref)
            if container.status in ("running", "restarting", "paused"):
                container.stop(timeout=math.ceil(timeout))
            output = container.logs(stdout=True, stderr=True, tail=KEPT_OUTPUT_LINES)
            container.remove(force=True)
        except NotFound:
            return
        except APIError as error:
            if error.status_code == 409:  # "removal already in progress": the other stop keeps the output
                return
            raise
        self.keep_output(container.labels, f"container {container.name} ({container.short_id})", output)

    def keep_output(self, labels: dict[str, str], what: str, output: bytes) -> None:
        """Append a removed worker's output to its session's log file (only a worker of this deployment's)."""
        session_id = labels.get(SESSION_LABEL, "")
        if labels.get(DEPLOYMENT_LABEL) != self.config.deployment or not SESSION_ID.fullmatch(session_id):
            return
        path = worker_log_path(self.settings, session_id)
        private_dir(path.parent)
        private_file(path)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        with open(path, "ab") as log:
            log.write(f"--- {what}, removed {stamp} UTC ---\n".encode())
            log.write(output)

    async def survey(self, refs: Collection[str]) -> dict[str, Liveness]:
        """See ``Runner.survey``: one list of the running workers (``RunnerError`` if Docker does not answer: a
        worker Docker cannot be asked about is not taken for dead; a worker of its own never needs to move)."""
        running = await asyncio.to_thread(self._running) if refs else set()
        return {ref: Liveness(ref in running) for ref in refs}

    def _running(self) -> set[str]:
        """The ids of this deployment's running containers."""
        label = f"{DEPLOYMENT_LABEL}={self.config.deployment}"
        try:
            found = self.client.containers.list(filters={"label": label, "status": "running"}, sparse=True)
        except DockerException as error:
            raise RunnerError(f"cannot ask Docker about this deployment's containers: {said(error)}") from None
        return {str(container.id) for container in found}

    async def strays(self, known: Collection[str]) -> list[Stray]:
        """See ``Runner.strays``: this deployment's containers (running or not) whose id no session holds."""
        return await asyncio.to_thread(self._strays, set(known))

    def _strays(self, known: set[str]) -> list[Stray]:
        label = f"{DEPLOYMENT_LABEL}={self.config.deployment}"
        found = self.client.containers.list(all=True, filters={"label": label}, ignore_removed=True)
        return [
            Stray(str(container.id), str(container.name), container.labels.get(SESSION_LABEL, ""))
            for container in found
            if container.id not in known
        ]

    async def close(self) -> None:
        """Close the API connection (containers keep running)."""
        with contextlib.suppress(DockerException):
            await asyncio.to_thread(self.client.close)
