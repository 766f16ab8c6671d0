"""Swarm runner (``RUNNER=swarm``): each session's worker a Docker Swarm service of its own (one replica),
pinned to the node that holds the session's login data.

Everything a container of the docker runner gets, a service gets too (name, labels, environment, mount,
memory and pids limits, the orchestrator's uid, no restart: the watchdog decides). The node: the one
recorded in the session's directory (``swarm-node``) while it is in the swarm; else, on the first start,
the least loaded of the nodes labelled ``waorch.sessions=true`` (none labelled: the orchestrator's own node),
recorded there. A session's service is removed and its task seen gone (on whichever node) before the stop
returns, and whatever holds its name is removed before a new one is created: a session never runs twice.
"""

from __future__ import annotations

import collections
import os
import time
from pathlib import Path
from typing import Any

from docker.errors import DockerException, NotFound
from docker.models.services import Service
from docker.types import Resources, RestartPolicy

from waorch.config import Settings
from waorch.core.runners.base import Stray, WorkerSpec
from waorch.core.runners.docker import (
    DEPLOYMENT_LABEL,
    KEPT_OUTPUT_LINES,
    LOG_OPTIONS,
    SESSION_LABEL,
    DockerRunner,
    said,
)
from waorch.errors import RunnerError
from waorch.private_files import private_dir

NODE_FILE = "swarm-node"  # in the session's directory: the node its login data is on
NODE_LABEL = "waorch.node"
WORKER_NODES = "waorch.sessions"  # a node label: "true" marks the nodes that run workers
LIVE_STATES = {"new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running"}
POLL_S = 0.1


class SwarmRunner(DockerRunner):
    """Runs the worker image as one service per session (see the module's docstring)."""

    def __init__(self, settings: Settings, client: Any = None) -> None:
        super().__init__(settings, client)
        swarm = self.client.info().get("Swarm", {})
        if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
            raise RunnerError(
                "RUNNER=swarm needs a swarm manager: this Docker engine is not one "
                "(docker swarm init, or point DOCKER_HOST at a manager)"
            )
        self.own_node = str(swarm["NodeID"])

    def _start(self, spec: WorkerSpec) -> str:
        name = self.name_of(spec.session_id)
        try:
            self._remove(name, 5.0)
            node = self._node_for(spec)
            service = self._api.create(self.config.image, name=name, **self._service(spec, name, node))
        except DockerException as error:
            raise RunnerError(f"cannot create service {name}: {said(error)}", session_id=spec.session_id) from None
        return str(service.id)

    def _service(self, spec: WorkerSpec, name: str, node: str) -> dict[str, Any]:
        config = self.config
        resources = Resources(mem_limit=config.memory_mb * 2**20)
        resources["Limits"]["Pids"] = config.pids_limit  # API 1.41; the package has no argument for it
        labels = self.labels(spec.session_id)
        return {
            "env": [f"{key}={value}" for key, value in self.environment(spec, name).items()],
            "labels": {**labels, NODE_LABEL: node},
            "container_labels": labels,
            "mounts": [self.mount(spec)],
            "resources": resources,
            "restart_policy": RestartPolicy(condition="none"),
            "constraints": [f"node.id=={node}"],
            "networks": [config.network],
            "user": self.user,
            "init": True,
            "log_driver": "json-file",
            "log_driver_options": LOG_OPTIONS,
            "stop_grace_period": 10 * 10**9,
        }

    def _node_for(self, spec: WorkerSpec) -> str:
        """The node holding the session's login data: the recorded one while it is in the swarm, else the
        least loaded worker node (recorded)."""
        nodes = [node for node in self.client.nodes.list() if node.attrs["Status"].get("State") == "ready"]
        recorded = _recorded_node(spec.auth_dir)
        if recorded in {node.id for node in nodes}:
            return recorded
        labelled = [str(node.id) for node in nodes if node.attrs["Spec"].get("Labels", {}).get(WORKER_NODES) == "true"]
        load = collections.Counter(service.attrs["Spec"]["Labels"].get(NODE_LABEL) for service in self._services())
        chosen = min(labelled, key=lambda node_id: (load[node_id], node_id)) if labelled else self.own_node
        _record_node(spec.auth_dir, chosen)
        return chosen

    @property
    def _api(self) -> Any:
        """The services collection (its stubs leave it untyped)."""
        return self.client.services

    def _services(self) -> list[Service]:
        services: list[Service] = self._api.list(filters={"label": f"{DEPLOYMENT_LABEL}={self.config.deployment}"})
        return services

    def _remove(self, ref: str, timeout: float) -> None:
        """Remove the service ``ref`` (an id or a name), keep its output, and wait until its task's container is
        gone (stopped after its grace period) before a new one may start. Removed, not first scaled to zero:
        the engine (20.10) can crash removing a service whose scaled-down tasks it is deleting meanwhile."""
        try:
            service = self._api.get(ref)
            output = b"".join(service.logs(stdout=True, stderr=True, tail=KEPT_OUTPUT_LINES))
            tasks = [str(task["ID"]) for task in service.tasks()]
            service.remove()
        except NotFound:
            return
        deadline = time.monotonic() + timeout + 15
        while any(self._task_running(task) for task in tasks) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        self.keep_output(service.attrs["Spec"]["Labels"], f"service {service.name} ({service.short_id})", output)

    def _task_running(self, task_id: str) -> bool:
        """Whether the task (of a removed service) still has its container starting or running, on any node."""
        api: Any = self.client.api  # its stubs leave inspect_task() untyped
        try:
            return api.inspect_task(task_id).get("Status", {}).get("State") in LIVE_STATES
        except NotFound:
            return False

    def _running(self) -> set[str]:
        """The ids of the services whose task is starting or running (a task still being placed is not a dead
        worker), from one list of the swarm's tasks meant to run."""
        api: Any = self.client.api  # its stubs leave tasks() untyped
        try:
            tasks = api.tasks(filters={"desired-state": "running"})
        except DockerException as error:
            raise RunnerError(f"cannot ask Docker about the swarm's tasks: {said(error)}") from None
        return {str(task["ServiceID"]) for task in tasks if task.get("Status", {}).get("State") in LIVE_STATES}

    def _strays(self, known: set[str]) -> list[Stray]:
        return [
            Stray(str(service.id), str(service.name), service.attrs["Spec"]["Labels"].get(SESSION_LABEL, ""))
            for service in self._services()
            if service.id not in known
        ]


def _record_node(auth_dir: Path, node: str) -> None:
    """Write ``swarm-node`` (0600) whole: a temporary file renamed over the old one."""
    private_dir(auth_dir)
    temporary = auth_dir / f".{NODE_FILE}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(node)
    os.replace(temporary, auth_dir / NODE_FILE)


def _recorded_node(auth_dir: Path) -> str:
    try:
        return (auth_dir / NODE_FILE).read_text().strip()
    except OSError:
        return ""
