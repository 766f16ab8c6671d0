"""The docker and swarm runners against a real Docker engine (``scripts/docker_images.sh`` starts dockerd,
makes it a single-node swarm and builds the worker image from this tree; ``pytest -m docker`` runs these
alone). Every container uses host networking: the workers reach the core and the simulator on loopback.

With each runner: provision → worker container running (named, labelled, limited, no restart policy) → QR →
scan → connected; an orchestrator restart adopts it; a killed container is noticed and replaced, the session
connected again without a QR; delete removes it and keeps its output in the worker's log; strays are
reported or removed. No Docker engine (or no swarm manager) is one clear line at start."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker.errors import DockerException, NotFound
from support import RunningService, eventually, free_port, orchestrator, scan, wait_status

from waorch.config import Settings
from waorch.core.runners.docker import DEPLOYMENT_LABEL, SESSION_LABEL

pytestmark = pytest.mark.docker
IMAGE = os.environ.get("WAORCH_TEST_WORKER_IMAGE", "waorch-worker:test")
PHONE = "972501111111"


@pytest.fixture(scope="session")
def engine() -> Iterator[docker.DockerClient]:
    """The local Docker engine with the worker image built from this tree, or a skip naming what is missing."""
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except DockerException as error:
        pytest.skip(f"no Docker engine ({error}): scripts/docker_images.sh starts one (see build/docker/)")
    try:
        client.images.get(IMAGE)
    except DockerException:
        pytest.skip(f"no worker image {IMAGE}: scripts/docker_images.sh builds it (see build/docker/build.log)")
    yield client
    client.close()


@pytest.fixture(params=["docker", "swarm"])
def runner(request, engine: docker.DockerClient) -> str:
    """The runner under test; swarm needs the engine to be a swarm manager."""
    if request.param == "swarm" and not engine.info().get("Swarm", {}).get("ControlAvailable"):
        pytest.skip("the Docker engine is no swarm manager: scripts/docker_images.sh runs docker swarm init")
    return str(request.param)


@pytest.fixture
def deployment(engine: docker.DockerClient) -> Iterator[str]:
    """A deployment label of this test's own; its services and containers are removed afterwards."""
    name = f"t{uuid.uuid4().hex[:10]}"
    yield name
    label = {"label": f"{DEPLOYMENT_LABEL}={name}"}
    swarm = engine.info().get("Swarm", {}).get("ControlAvailable")
    for thing in [
        *(engine.services.list(filters=label) if swarm else []),
        *engine.containers.list(all=True, filters=label, ignore_removed=True),
    ]:
        with contextlib.suppress(DockerException):
            thing.remove(**({"force": True} if hasattr(thing, "kill") else {}))


def settings_for(make_settings, sim_url: str, runner: str, deployment: str, **overrides: str) -> Settings:
    return make_settings(RUNNER=runner, WORKER_IMAGE=IMAGE, DEPLOYMENT=deployment, SIM_URL=sim_url, **overrides)


def containers(engine: docker.DockerClient, deployment: str) -> list:
    return engine.containers.list(all=True, filters={"label": f"{DEPLOYMENT_LABEL}={deployment}"}, ignore_removed=True)


async def provisioned(running: RunningService) -> tuple[str, dict]:
    """A new session and its body once its QR is ready."""
    sid = (await running.api.post("/api/sessions/provision", json={})).json()["sessionId"]
    return sid, await wait_status(running.api, sid, "qr_ready", timeout=30)


async def test_a_session_runs_in_its_container_is_adopted_after_a_restart_and_removed_on_delete(
    engine, runner, deployment, make_settings, sim
) -> None:
    settings = settings_for(make_settings, sim.url, runner, deployment)
    async with orchestrator(settings, stop_workers=False) as running:
        sid, ready = await provisioned(running)
        [container] = containers(engine, deployment)
        name = f"{deployment}_wa_session_{sid}"
        if runner == "swarm":
            [service] = engine.services.list(filters={"name": name})
            assert service.attrs["Spec"]["TaskTemplate"]["Placement"]["Constraints"] == [
                f"node.id=={engine.info()['Swarm']['NodeID']}"
            ]
            assert (settings.sessions_dir / sid / "swarm-node").read_text() == engine.info()["Swarm"]["NodeID"]
        else:
            assert container.name == name
        assert container.status == "running" and container.labels[SESSION_LABEL] == sid
        live = "docker service logs" if runner == "swarm" else "docker logs"
        assert running.core.reader.worker_log(sid).endswith(f"(while it runs: {live} {name})")  # the session screen
        host = container.attrs["HostConfig"]
        assert host["NetworkMode"] == "host" and host["RestartPolicy"]["Name"] in ("no", "")
        assert host["Memory"] == 512 * 2**20 and host["PidsLimit"] == 512
        assert container.attrs["Config"]["User"] == f"{os.getuid()}:{os.getgid()}"
        assert [m["Destination"] for m in container.attrs["Mounts"]] == [str(settings.sessions_dir / sid)]
        environment = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
        assert environment["SESSION_ID"] == sid and "WEBHOOK_SECRET" not in environment
        assert settings.webhook_secret not in " ".join(container.attrs["Config"]["Env"])  # only derived keys
        await scan(sim.url, ready["qr"], PHONE)
        await wait_status(running.api, sid, "connected", timeout=30)
    async with orchestrator(settings, stop_workers=True) as running:  # the orchestrator restarts
        await wait_status(running.api, sid, "connected", timeout=30)
        [adopted] = containers(engine, deployment)
        assert adopted.id == container.id  # adopted, not replaced
        assert (await running.api.delete(f"/api/sessions/{sid}")).status_code in (200, 202, 204)
        await eventually(lambda: _none_left(engine, deployment), timeout=30)
        log = (settings.data_dir / "logs" / f"{sid}.log").read_text()
        assert f"{'service' if runner == 'swarm' else 'container'} {name}" in log  # its output kept in the log
        assert "event CONNECTED" in log


async def _none_left(engine: docker.DockerClient, deployment: str) -> bool:
    return not containers(engine, deployment)


async def test_a_killed_container_is_noticed_and_replaced_without_a_qr(
    engine, runner, deployment, make_settings, sim
) -> None:
    settings = settings_for(make_settings, sim.url, runner, deployment)
    async with orchestrator(settings, stop_workers=True) as running:
        sid, ready = await provisioned(running)
        await scan(sim.url, ready["qr"], PHONE)
        await wait_status(running.api, sid, "connected", timeout=30)
        [first] = containers(engine, deployment)
        first.kill()

        async def replaced() -> bool:
            now = [container for container in containers(engine, deployment) if container.status == "running"]
            return len(now) == 1 and now[0].id != first.id

        await eventually(replaced, timeout=30)
        await wait_status(running.api, sid, "connected", timeout=30)  # its login kept: no QR
        activity = await running.core.activity.latest(100)
        assert any("worker exited" in entry.text and entry.session == sid for entry in activity)


@pytest.mark.parametrize("remove", [False, True])
async def test_strays_are_reported_or_removed(engine, runner, deployment, make_settings, sim, remove: bool) -> None:
    name, labels = f"{deployment}_wa_session_worker_99", {DEPLOYMENT_LABEL: deployment, SESSION_LABEL: "worker_99"}
    if runner == "swarm":
        stray = engine.services.create(IMAGE, ["sleep", "600"], name=name, labels=labels, networks=["host"])
    else:
        stray = engine.containers.run(
            IMAGE, entrypoint=["sleep", "600"], name=name, labels=labels, network_mode="host", detach=True
        )
    settings = settings_for(make_settings, sim.url, runner, deployment, REMOVE_ORPHANS=str(remove).lower())
    async with orchestrator(settings, stop_workers=True) as running:
        activity = await running.core.activity.latest(100)
        said = [entry.text for entry in activity if stray.name in entry.text]
        assert said, activity
        things = engine.services if runner == "swarm" else engine.containers
        if remove:
            assert said[0].startswith("removed")
            with pytest.raises(NotFound):
                things.get(stray.id)
        else:
            assert "REMOVE_ORPHANS=true" in said[0]
            assert things.get(stray.id)


def test_no_docker_engine_is_one_clear_line_at_start(tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "RUNNER": "docker",
        "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock",
        "DATA_DIR": str(tmp_path / "data"),
        "ORCH_PORT": str(free_port()),
    }
    done = subprocess.run(
        [sys.executable, "-m", "waorch", "serve"], env=environment, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "Docker does not answer at unix://" in done.stderr and "start dockerd" in done.stderr
    assert "Traceback" not in done.stderr
