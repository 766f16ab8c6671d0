"""The compose stack for real (``pytest -m docker`` runs it with the other container tests): the README's steps
(a .env from env.example, ``docker compose up -d``, then /health answers) on the images ``docker compose build``
made (``scripts/docker_images.sh``), then a control room on the host attached to the stack's core (same Redis,
same API key) provisions a session whose container the orchestrator starts through the mounted socket, shows its
QR, and sees it connected once scanned; ``docker compose exec orchestrator waorch`` works inside; ``docker compose
stop`` ends ``waorch serve`` on SIGTERM well within its grace period, and the next ``up -d`` adopts the session's
container instead of starting a second one.

Nothing leaves loopback: a compose.override.yml beside compose.yml (read by ``docker compose`` as a user's would
be) puts the services on the host's network on free loopback ports, and gives the stack volumes of its own.
The Redis image is ``waorch-valkey:test`` (no registry here to pull ``valkey/valkey:8.1`` from)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
import yaml
from docker.errors import DockerException
from support import eventually, free_port, scan, wait_status
from tui_support import SIZE, until

from waorch.control import RemoteControl
from waorch.core.runners.docker import DEPLOYMENT_LABEL
from waorch.sim.server import SimServer
from waorch.tui.app import ControlRoom
from waorch.tui.detail import DetailScreen
from waorch.tui.qr_view import QRView

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parent.parent.parent
IMAGES = {
    "ORCHESTRATOR_IMAGE": os.environ.get("WAORCH_TEST_ORCHESTRATOR_IMAGE", "waorch-orchestrator:test"),
    "WORKER_IMAGE": os.environ.get("WAORCH_TEST_WORKER_IMAGE", "waorch-worker:test"),
    "REDIS_IMAGE": os.environ.get("WAORCH_TEST_VALKEY_IMAGE", "waorch-valkey:test"),
}
STACK_API_KEY = "stack-api-key-0123456789abcdef"
PHONE = "972502222222"


@dataclass
class Stack:
    """compose.yml and its .env in a directory of their own, run as the compose project ``project``."""

    directory: Path
    project: str
    api_port: int
    redis_port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def compose(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``docker compose ARGS`` in the stack's directory; only PATH and HOME from this environment (a
        variable set here would win over the .env in compose.yml's interpolation)."""
        env = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
        command = ["docker", "compose", "-p", self.project, *args]
        return subprocess.run(command, cwd=self.directory, env=env, capture_output=True, text=True, timeout=timeout)


def dotenv(example: str, values: dict[str, str]) -> str:
    """env.example with ``values`` set, as a user edits it (a `# KEY=` example line becomes a setting)."""
    for name, value in values.items():
        line = re.compile(rf"^(?:# )?{name}=.*$", re.MULTILINE)
        example = line.sub(f"{name}={value}", example) if line.search(example) else f"{example}{name}={value}\n"
    return example


def host_network_override(stack: Stack, redis_command: list[str]) -> dict[str, Any]:
    """The test's compose.override.yml: every service on the host's network, on loopback ports of its own;
    volumes named after the project."""
    host: dict[str, Any] = {"network_mode": "host", "networks": yaml_reset([])}
    port = str(stack.redis_port)
    return {
        "services": {
            "redis": host
            | {
                "command": [*redis_command, "--port", port, "--bind", "127.0.0.1"],
                "healthcheck": {"test": ["CMD", "valkey-cli", "-p", port, "ping"]},
            },
            "orchestrator": host
            | {
                "ports": yaml_reset([]),
                "environment": {
                    "ORCH_HOST": "127.0.0.1",
                    "ORCH_PORT": str(stack.api_port),
                    "WEBHOOK_URL": f"{stack.base_url}/webhook",
                    "DOCKER_NETWORK": "host",
                    "SESSIONS_VOLUME": f"{stack.project}_sessions",
                },
            },
            "worker": {"network_mode": "host"},
        },
        "volumes": {name: {"name": f"{stack.project}_{name}"} for name in ("redis", "data", "sessions")},
    }


class yaml_reset(list):  # noqa: N801 (compose's `!reset` tag: drop what compose.yml lists)
    pass


yaml.SafeDumper.add_representer(yaml_reset, lambda dumper, value: dumper.represent_sequence("!reset", value))


@pytest.fixture
def engine() -> Iterator[docker.DockerClient]:
    """The local Docker engine with `docker compose` and the stack's images, or a skip naming what is missing."""
    try:
        client = docker.from_env(timeout=60)
        for image in IMAGES.values():
            client.images.get(image)
    except DockerException as error:
        pytest.skip(f"no Docker engine or no image ({error}): scripts/docker_images.sh builds them")
    if (
        shutil.which("docker") is None
        or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0
    ):
        pytest.skip("no `docker compose` (Compose v2): scripts/docker_images.sh installs it")
    with contextlib.closing(client):
        yield client


@pytest.fixture
def stack(engine: docker.DockerClient, tmp_path: Path, sim: SimServer) -> Iterator[Stack]:
    """The README's setup in a directory of its own: compose.yml, and a .env made from env.example with the
    socket's group, the test images, an API key, the simulator; taken down (volumes and session containers
    too) afterwards."""
    stack = Stack(tmp_path / "stack", f"t{uuid.uuid4().hex[:10]}", free_port(), free_port())
    stack.directory.mkdir()
    shutil.copy(ROOT / "compose.yml", stack.directory)
    settings = IMAGES | {
        "DOCKER_GID": str(os.stat("/var/run/docker.sock").st_gid),
        "API_KEY": STACK_API_KEY,
        "REDIS_URL": f"redis://127.0.0.1:{stack.redis_port}/0",
        "DEPLOYMENT": stack.project,
        "WORKER_ENGINE": "sim",
        "SIM_URL": sim.url,
    }
    (stack.directory / ".env").write_text(dotenv((ROOT / "env.example").read_text(), settings))
    redis_command = yaml.safe_load((ROOT / "compose.yml").read_text())["services"]["redis"]["command"]
    override = host_network_override(stack, redis_command)
    (stack.directory / "compose.override.yml").write_text(yaml.safe_dump(override, sort_keys=False))
    yield stack
    for container in engine.containers.list(all=True, filters={"label": f"{DEPLOYMENT_LABEL}={stack.project}"}):
        with contextlib.suppress(DockerException):
            container.remove(force=True)
    stack.compose("down", "--volumes", "--timeout", "5")


async def healthy(stack: Stack) -> bool:
    async with httpx.AsyncClient(trust_env=False) as client:
        with contextlib.suppress(httpx.TransportError):
            return (await client.get(f"{stack.base_url}/health")).status_code == 200
    return False


def orchestrator_container(engine: docker.DockerClient, stack: Stack) -> Any:
    [container] = engine.containers.list(
        all=True,
        filters={"label": [f"com.docker.compose.project={stack.project}", "com.docker.compose.service=orchestrator"]},
    )
    return container


def qr_shown(app: ControlRoom) -> str:
    """The payload of the QR the session screen draws ("" until it draws one)."""
    views = app.screen.query(QRView) if isinstance(app.screen, DetailScreen) else []
    return views[0].payload if views and views[0].display else ""


@pytest.mark.timeout(240)
async def test_the_stack_comes_up_and_a_room_on_the_host_runs_its_fleet(
    engine: docker.DockerClient, stack: Stack, sim: SimServer, make_settings: Any
) -> None:
    up = stack.compose("up", "-d")
    assert up.returncode == 0, up.stderr
    await eventually(lambda: healthy(stack), timeout=60, interval=0.3)

    # The control room on the host, given the stack's Redis and API key, attaches to its core and acts through it.
    room = make_settings(REDIS_URL=f"redis://127.0.0.1:{stack.redis_port}/0", API_KEY=STACK_API_KEY, SIM_URL=sim.url)
    app = ControlRoom(room)
    async with (
        app.run_test(size=SIZE) as pilot,
        httpx.AsyncClient(base_url=stack.base_url, headers={"X-API-Key": STACK_API_KEY}, trust_env=False) as api,
    ):
        await until(pilot, lambda: isinstance(app.control, RemoteControl), timeout=20)
        await pilot.press("n")
        await pilot.pause()
        await pilot.press("enter")
        [sid] = await eventually(lambda: app.reader.store.ids(), timeout=20)
        ready = await wait_status(api, sid, "qr_ready", timeout=60)
        # ... its container, started by the orchestrator through the mounted socket, named for the deployment
        [worker] = engine.containers.list(filters={"label": f"{DEPLOYMENT_LABEL}={stack.project}"})
        assert worker.name == f"{stack.project}_wa_session_{sid}" and worker.status == "running"
        assert worker.attrs["Config"]["User"] == f"10001:{os.stat('/var/run/docker.sock').st_gid}"
        await pilot.press("escape")
        app.open_detail(sid)
        await until(pilot, lambda: qr_shown(app) == ready["qr"], timeout=20)
        await scan(sim.url, ready["qr"], PHONE)
        await wait_status(api, sid, "connected", timeout=30)
        await until(pilot, lambda: "connected" in str(app.screen.query_one("#summary").render()), timeout=20)

        # `docker compose exec orchestrator waorch ...` runs in the container against its core.
        backup = stack.compose("exec", "-T", "orchestrator", "waorch", "backup")
        assert backup.returncode == 0, backup.stderr
        [name] = [archive["name"] for archive in (await api.get("/api/backups")).json()["backups"]]
        assert name in backup.stdout

    # SIGTERM: `waorch serve` ends cleanly, well within its stop_grace_period; the session's container stays.
    started = time.monotonic()
    stop = stack.compose("stop", "orchestrator")
    took = time.monotonic() - started
    assert stop.returncode == 0, stop.stderr
    container = orchestrator_container(engine, stack)
    assert container.attrs["State"]["ExitCode"] == 0, container.logs().decode()[-2000:]
    assert took < 10
    worker.reload()
    assert worker.status == "running"

    # The next orchestrator adopts the running container: the session is connected, no second container.
    assert stack.compose("up", "-d").returncode == 0
    await eventually(lambda: healthy(stack), timeout=60, interval=0.3)
    async with httpx.AsyncClient(base_url=stack.base_url, headers={"X-API-Key": STACK_API_KEY}) as api:
        await wait_status(api, sid, "connected", timeout=30)
    [adopted] = engine.containers.list(all=True, filters={"label": f"{DEPLOYMENT_LABEL}={stack.project}"})
    assert adopted.id == worker.id
