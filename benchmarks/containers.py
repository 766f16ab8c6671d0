"""Provision → QR and the memory of one idle worker: the docker runner beside the process runner.

Real parts: the simulator (its own process), the sim engine, the embedded Valkey, PROVISIONING_INTERVAL_MS=0;
for RUNNER=docker the local Docker engine and the worker image (``scripts/docker_images.sh`` builds
``waorch-worker:test``), host networking, so every packet stays on loopback. Each runner gets a core of its
own on the same simulator; its sessions are provisioned one after another through the API (the next once the
previous one's QR is stored), then left idle ``--settle`` seconds and every worker's memory is read:

- a process worker: its private memory (USS);
- a container: its cgroup's memory usage as ``docker stats`` shows it (the Docker stats API's ``memory_stats``
  usage minus its inactive file pages: ``total_inactive_file`` on cgroup v1, ``inactive_file`` on v2), and the
  USS of the ``waorch worker`` process inside it (seen from the host: the child of the container's init).

Prints the median per worker, and the largest. Target: docker p50 < 3 s. The containers carry a deployment
label of this run's own; every one is removed by that label at the end, also after ctrl+c or SIGTERM.

    .venv/bin/python benchmarks/containers.py [--sessions 20] [--image waorch-worker:test] [--settle 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import signal
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any, cast

import docker
import psutil
from common import api_client, percentile, process_memory, qr_latency, sim_fleet, simulator, worker_pid
from docker.errors import DockerException, ImageNotFound

from waorch.core.core import Core
from waorch.core.runners.docker import DEPLOYMENT_LABEL, connect
from waorch.errors import RunnerError

TARGET_P50_S = 3.0


@dataclass(frozen=True)
class Idle:
    """One idle worker's memory in MiB: its private memory (USS), and its container's (none for a process)."""

    uss: float
    container: float | None = None


@dataclass(frozen=True)
class Figures:
    """What one runner measured: provision → QR seconds, and its idle workers' memory."""

    runner: str
    qr_times: list[float]
    idle: list[Idle]


def process_worker(ref: str) -> Idle:
    """A process worker."""
    return Idle(process_memory(worker_pid(ref))[1])


def container_worker(client: docker.DockerClient, container_id: str) -> Idle:
    """A worker container: its memory as ``docker stats`` shows it, and the USS of the worker process in it."""
    container = client.containers.get(container_id)
    memory = cast(dict[str, Any], container.stats(stream=False, one_shot=True))["memory_stats"]  # not streamed
    usage, stats = memory["usage"], memory.get("stats", {})
    inactive = stats.get("total_inactive_file", stats.get("inactive_file", 0))
    [worker] = psutil.Process(container.attrs["State"]["Pid"]).children()  # the container's init runs the worker
    return Idle(process_memory(worker.pid)[1], (usage - inactive if inactive < usage else usage) / 2**20)


async def provision_one_by_one(core: Core, sessions: int) -> tuple[list[str], list[float]]:
    """Provision ``sessions`` through the API, each once the previous one's QR is stored: ids and seconds."""
    async with api_client(core.settings.base_url) as api:
        timed = [await qr_latency(api, core.store, time.perf_counter()) for _ in range(sessions)]
    return [sid for sid, _ in timed], [seconds for _, seconds in timed]


async def measure(
    runner: str, sim_url: str, arguments: argparse.Namespace, client: docker.DockerClient | None, **env: str
) -> Figures:
    """Provision on a core of ``runner`` (``env`` adds settings), then read its workers' memory once idle."""
    async with sim_fleet(None, sim_url, RUNNER=runner, **env) as (core, _):
        session_ids, times = await provision_one_by_one(core, arguments.sessions)
        await asyncio.sleep(arguments.settle)  # idle: QR shown, nothing else to do
        refs = [(await core.store.get(sid)).worker for sid in session_ids]
        read = functools.partial(container_worker, client) if client else process_worker
        idle = [await asyncio.to_thread(read, ref) for ref in refs]
    return Figures(runner, times, idle)


def mib(values: list[float]) -> str:
    """Median and largest, or a dash where there is nothing."""
    return f"{statistics.median(values):.1f} (max {max(values):.1f})" if values else "-"


def report(results: list[Figures], sessions: int) -> None:
    print(f"provision -> QR stored, {sessions} sessions one after another (sim engine, host networking)")
    print(f"{'runner':<8} {'p50 s':>7} {'p95 s':>7} {'max s':>7}   {'idle worker USS MiB':<20}  idle container MiB")
    for figures in results:
        times, idle = figures.qr_times, figures.idle
        containers = [worker.container for worker in idle if worker.container is not None]
        print(
            f"{figures.runner:<8} {statistics.median(times):7.3f} {percentile(times, 95):7.3f} {max(times):7.3f}"
            f"   {mib([worker.uss for worker in idle]):<20}  {mib(containers)}"
        )
    p50 = statistics.median(results[-1].qr_times)
    print(f"docker p50 {p50:.3f} s: target p50 < {TARGET_P50_S:.0f} s {'met' if p50 < TARGET_P50_S else 'NOT met'}")
    print("USS: private memory of the worker process; container: its cgroup's usage minus inactive file pages")


def cancel_once(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` unless it is being cancelled already (a second SIGTERM must not cut its clean-up short)."""
    if not task.cancelling():
        task.cancel()


async def main(arguments: argparse.Namespace, client: docker.DockerClient, deployment: str) -> None:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, cancel_once, task)  # cleans up as ctrl+c does
    docker_env = {"WORKER_IMAGE": arguments.image, "DEPLOYMENT": deployment, "DOCKER_NETWORK": "host"}
    async with simulator() as sim_url:
        results = [
            await measure("process", sim_url, arguments, None),
            await measure("docker", sim_url, arguments, client, **docker_env),
        ]
    report(results, arguments.sessions)


def remove_containers(client: docker.DockerClient, deployment: str) -> int:
    """Remove every container labelled with ``deployment``; how many there were."""
    found = client.containers.list(all=True, filters={"label": f"{DEPLOYMENT_LABEL}={deployment}"})
    for container in found:
        with contextlib.suppress(DockerException):
            container.remove(force=True)
    return len(found)


def engine(image: str) -> docker.DockerClient:
    """The local Docker engine holding ``image``; exits with one line saying what is missing."""
    try:
        client = connect(None)
        client.images.get(image)
    except RunnerError as error:
        sys.exit(f"containers benchmark: {error}")
    except ImageNotFound:
        sys.exit(f"containers benchmark: no image {image}: scripts/docker_images.sh builds waorch-worker:test")
    return client


def run(arguments: argparse.Namespace) -> None:
    client = engine(arguments.image)
    deployment = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        asyncio.run(main(arguments, client, deployment))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("containers benchmark: interrupted", file=sys.stderr)
        sys.exit(130)
    finally:
        if left := remove_containers(client, deployment):
            print(f"removed {left} container(s) labelled {DEPLOYMENT_LABEL}={deployment}", file=sys.stderr)
        client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20, help="sessions per runner")
    parser.add_argument("--image", default="waorch-worker:test", help="the worker image (WORKER_IMAGE)")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds idle before the memory is read")
    run(parser.parse_args())
