"""The compose stack: env.example names every variable waorch reads (and only those, or the stack's own),
compose.yml wires the orchestrator to its Redis, network and volumes for `docker compose` and `docker stack
deploy` alike, and the orchestrator image serves /health and stops on SIGTERM within Docker's stop timeout.

The image test runs the image ``scripts/docker_images.sh`` builds (``pytest -m docker`` runs it alone), with
host networking and its embedded Redis: nothing leaves loopback."""

from __future__ import annotations

import ast
import contextlib
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
import httpx
import pytest
import yaml
from docker.errors import DockerException
from docker.types import Mount
from support import eventually, free_port

from waorch.config import PROXY_VAR, Settings, load_settings, read_dotenv

ROOT = Path(__file__).resolve().parent.parent
ENV_EXAMPLE = ROOT / "env.example"
COMPOSE = ROOT / "compose.yml"
ORCHESTRATOR_IMAGE = os.environ.get("WAORCH_TEST_ORCHESTRATOR_IMAGE", "waorch-orchestrator:test")
# Read by load_settings only for DATA_DIR's default: the user's own environment, not waorch's settings.
NOT_SETTINGS = {"HOME", "XDG_DATA_HOME"}
# `KEY=value`, or `# KEY=value`: set by compose.yml, or an example (PROXY_URL_1)
ASSIGNMENT = re.compile(r"^(?:# )?([A-Z][A-Z0-9_]*)=")
# Compose's interpolation: ${NAME}, ${NAME:-default}, ${NAME:?message}
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-?])([^}]*))?\}")
DOCKER_GID = "106"


def variables_load_settings_reads() -> set[str]:
    """The names ``load_settings`` reads, found in waorch/config.py: each literal name passed with ``env``
    (``env.get("X")``, ``env["X"]``, ``_integer(env, "X", ...)``) in it and in the functions it calls."""
    tree = ast.parse((ROOT / "waorch" / "config.py").read_text())
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    names: set[str] = set()
    todo, seen = ["load_settings"], {"load_settings"}
    while todo:
        for node in ast.walk(functions[todo.pop()]):
            names |= _name_read(node)
            callee = node.func.id if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else ""
            if callee in functions and callee not in seen:
                seen.add(callee)
                todo.append(callee)
    return names


def _name_read(node: ast.AST) -> set[str]:
    def is_env(value: ast.AST) -> bool:
        return isinstance(value, ast.Name) and value.id == "env"

    def literal(value: ast.AST) -> set[str]:
        return {value.value} if isinstance(value, ast.Constant) and isinstance(value.value, str) else set()

    if isinstance(node, ast.Subscript) and is_env(node.value):
        return literal(node.slice)
    if not isinstance(node, ast.Call) or not node.args:
        return set()
    if isinstance(node.func, ast.Attribute) and node.func.attr == "get" and is_env(node.func.value):
        return literal(node.args[0])
    return literal(node.args[1]) if is_env(node.args[0]) and len(node.args) > 1 else set()


def env_example_names() -> list[str]:
    return [match.group(1) for line in ENV_EXAMPLE.read_text().splitlines() if (match := ASSIGNMENT.match(line))]


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def interpolate(text: str, env: dict[str, str]) -> str:
    """What `docker compose` makes of ``text`` with ``env`` (its .env)."""

    def value(match: re.Match[str]) -> str:
        name, kind, word = match.groups()
        if kind == "?" and not env.get(name):
            raise AssertionError(f"compose would refuse to start: {name} is required ({word})")
        return env.get(name) or (word if kind == "-" else "")

    return VARIABLE.sub(value, text)


def dotenv() -> dict[str, str]:
    """env.example as a user's .env once DOCKER_GID is set (the README's steps)."""
    return read_dotenv(ENV_EXAMPLE) | {"DOCKER_GID": DOCKER_GID}


def test_env_example_names_every_variable_waorch_reads_and_nothing_else() -> None:
    read = variables_load_settings_reads()
    assert {"API_KEY", "REDIS_URL", "SESSIONS_VOLUME", "JOBS_AT"} <= read  # the finder finds what is there
    named = env_example_names()
    stack = {match[0] for match in VARIABLE.findall(COMPOSE.read_text())}
    assert sorted(read - NOT_SETTINGS - set(named)) == [], "variables waorch reads with no line in env.example"
    assert sorted(stack - set(named)) == [], "variables compose.yml reads with no line in env.example"
    assert [name for name in named if name not in read | stack and not PROXY_VAR.match(name)] == []
    assert any(PROXY_VAR.match(name) for name in named), "an example of the pool's PROXY_URL_<n>"
    assert sorted({name for name in named if named.count(name) > 1}) == []


def orchestrator_settings() -> Settings:
    """The orchestrator's configuration in the stack: the .env, then compose.yml's `environment:` over it."""
    env = dotenv()
    pinned = compose()["services"]["orchestrator"]["environment"]
    given = env | {name: interpolate(str(value), env) for name, value in pinned.items()}
    return load_settings(given | {"API_KEY": "k" * 32, "WEBHOOK_SECRET": "s" * 32})  # else generated in /data


def mounted_at(service: dict[str, Any], path: Path) -> str:
    """The named volume ``service`` mounts at ``path``."""
    found = [entry.split(":")[0] for entry in service["volumes"] if entry.split(":")[1] == str(path)]
    assert len(found) == 1, f"nothing mounted at {path}: {service['volumes']}"
    return found[0]


def test_the_orchestrator_runs_its_workers_on_the_stacks_network_volume_and_image() -> None:
    stack, settings = compose(), orchestrator_settings()
    services, networks, volumes = stack["services"], stack["networks"], stack["volumes"]
    orchestrator = services["orchestrator"]
    assert settings.runner == "docker"
    # The workers join the network the orchestrator is on, named as configured, with the seed's subnet.
    named = {(net or {}).get("name"): key for key, net in networks.items()}
    workers_network = named.get(settings.containers.network)
    assert workers_network in orchestrator["networks"], f"no network {settings.containers.network} for the workers"
    assert networks[workers_network]["ipam"]["config"] == [{"subnet": "172.28.0.0/16"}]
    # ... and find the orchestrator there by its service name, on the port it listens on.
    webhook = urlsplit(settings.worker_webhook_url)
    assert (webhook.hostname, webhook.port, settings.orch_host) == ("orchestrator", settings.orch_port, "0.0.0.0")
    # Their login data is the volume the orchestrator keeps SESSIONS_DIR in (by its fixed name), its data a volume.
    assert volumes[mounted_at(orchestrator, settings.sessions_dir)]["name"] == settings.containers.sessions_volume
    assert mounted_at(orchestrator, settings.data_dir) in volumes
    # They run the image `docker compose build` builds for the worker service.
    assert settings.containers.image == interpolate(services["worker"]["image"], dotenv())
    # Redis is the stack's, on a network the orchestrator shares with it.
    redis = urlsplit(settings.redis_url or "")
    assert redis.hostname == "redis" and set(services["redis"]["networks"]) & set(orchestrator["networks"])


def test_redis_is_durable_the_api_is_on_loopback_and_no_worker_is_started_by_the_stack() -> None:
    services, env = compose()["services"], dotenv()
    redis, orchestrator, worker = services["redis"], services["orchestrator"], services["worker"]
    command = " ".join(interpolate(str(word), env) for word in redis["command"])
    assert "--appendonly yes" in command and "--appendfsync always" in command
    assert "--maxmemory 1024mb" in command and "--maxmemory-policy noeviction" in command
    assert mounted_at(redis, Path("/data")) in compose()["volumes"]
    assert [interpolate(port, env) for port in orchestrator["ports"]] == ["127.0.0.1:3001:3001"]
    assert "/var/run/docker.sock:/var/run/docker.sock" in orchestrator["volumes"]
    assert interpolate(orchestrator["user"], env) == f"10001:{DOCKER_GID}"  # the socket's group
    assert int(orchestrator["stop_grace_period"].removesuffix("s")) >= 10  # SIGKILL only after a slow shutdown
    # The worker is built, never started (a session's container is the runner's, with no restart policy).
    assert worker["deploy"]["replicas"] == 0 and worker.get("restart", "no") == "no"
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    for service in (orchestrator, worker):
        assert f" AS {service['build']['target']}\n" in dockerfile
        assert service["image"]  # docker stack deploy ignores build: and runs the image


def test_docker_stack_deploy_accepts_the_file(tmp_path: Path) -> None:
    """``docker stack config`` reads the file as ``docker stack deploy`` does (and needs no engine)."""
    if shutil.which("docker") is None:
        pytest.skip("no docker command (apt-get install docker.io)")
    if subprocess.run(["docker", "stack", "config", "--help"], capture_output=True).returncode != 0:
        pytest.skip("this docker command has no `docker stack config` (Docker 20.10 or later)")
    shutil.copy(COMPOSE, tmp_path / "compose.yml")
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")  # the orchestrator's env_file
    result = subprocess.run(
        ["docker", "stack", "config", "-c", "compose.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=dotenv() | {"PATH": os.environ["PATH"], "DOCKER_HOST": "unix:///nonexistent"},  # no engine needed
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert services["orchestrator"]["user"] == f"10001:{DOCKER_GID}"
    assert services["worker"]["deploy"]["replicas"] == 0


@pytest.fixture
def engine() -> Iterator[docker.DockerClient]:
    """The local Docker engine holding the orchestrator image, or a skip naming what is missing."""
    try:
        client = docker.from_env(timeout=60)
        client.images.get(ORCHESTRATOR_IMAGE)
    except DockerException as error:
        pytest.skip(f"no Docker engine or no image {ORCHESTRATOR_IMAGE} ({error}): scripts/docker_images.sh builds it")
    with contextlib.closing(client):
        yield client


@pytest.mark.docker
async def test_the_orchestrator_image_serves_on_fresh_volumes_and_stops_on_sigterm(engine) -> None:
    port, name = free_port(), f"waorch_test_{uuid.uuid4().hex[:10]}"
    volumes = {"/data": f"{name}_data", "/data/sessions": f"{name}_sessions"}  # fresh, as compose.yml's
    container = engine.containers.run(
        ORCHESTRATOR_IMAGE,
        name=name,
        detach=True,
        network_mode="host",  # the API on 127.0.0.1 only; its Redis is the embedded one, on a unix socket
        environment={"ORCH_HOST": "127.0.0.1", "ORCH_PORT": str(port)},
        mounts=[Mount(target, source, type="volume") for target, source in volumes.items()],
    )
    try:
        async with httpx.AsyncClient(trust_env=False) as client:

            async def healthy() -> bool:
                with contextlib.suppress(httpx.TransportError):
                    return (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 200
                return False

            await eventually(healthy, timeout=45)
        owners = container.exec_run(["stat", "-c", "%u %a", *volumes]).output.decode().split()
        assert owners == ["10001", "700", "10001", "700"]  # its own uid's, and private
        started = time.monotonic()
        container.stop(timeout=10)  # SIGTERM, then SIGKILL (exit 137) after 10 s
        took = time.monotonic() - started
        container.reload()
        assert container.attrs["State"]["ExitCode"] == 0, container.logs().decode()[-2000:]
        assert took < 5
    finally:
        container.remove(force=True)
        for volume in volumes.values():
            engine.volumes.get(volume).remove(force=True)
