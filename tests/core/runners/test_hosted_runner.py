"""Density mode (``SESSIONS_PER_WORKER`` = 3): sessions fill worker hosts, each still a session of its own (its
status, pings, log file); an orchestrator restart adopts them; a killed host's sessions come back (one restart
each, the paired one without a QR); hosts with no session left end by themselves."""

from __future__ import annotations

import contextlib
import os
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from socks_recorder import SilentSocks
from support import RunningService, eventually, free_port, orchestrator, scan, wait_status

from waorch.config import Settings
from waorch.core.lifecycle import worker_log_path
from waorch.core.runners.base import Liveness, WorkerSpec
from waorch.core.runners.hosted import HostedRef, HostedRunner

PHONE = "972501111111"


@pytest.fixture(autouse=True)
def no_host_outlives_the_test(tmp_path: Path) -> Iterator[None]:
    """Whatever failed, the worker hosts a test started (their HOSTS_DIR under its tmp_path) are killed after it."""
    yield
    for process in psutil.process_iter(["environ"]):
        with contextlib.suppress(psutil.Error):
            if (process.info["environ"] or {}).get("HOSTS_DIR", "").startswith(str(tmp_path)):
                process.kill()


async def refs(running: RunningService) -> dict[str, HostedRef]:
    sessions = await running.core.store.list()
    return {session.id: HostedRef.parse(session.worker) for session in sessions if session.worker}  # type: ignore[misc]


def host_pid(ref: HostedRef) -> int:
    return int(ref.process.split(":")[0])


async def test_sessions_share_hosts_are_adopted_and_survive_a_host_crash(make_settings, sim) -> None:
    settings = make_settings(SIM_URL=sim.url, SESSIONS_PER_WORKER="3")
    async with orchestrator(settings, stop_workers=False) as running:
        sids = [(await running.api.post("/api/sessions/provision", json={})).json()["sessionId"] for _ in range(4)]
        ready = {sid: await wait_status(running.api, sid, "qr_ready", timeout=30) for sid in sids}
        placed = await refs(running)
        assert sorted(Counter(ref.host_id for ref in placed.values()).values()) == [1, 3]  # filled, then a new host
        await scan(sim.url, ready[sids[0]]["qr"], PHONE)
        await wait_status(running.api, sids[0], "connected", timeout=30)
        for sid in sids:  # each session's worker logs to its own file, as a worker process does
            own = (settings.data_dir / "logs" / f"{sid}.log").read_text()
            assert "event QR_CODE" in own and "worker host" not in own
    async with orchestrator(settings, stop_workers=True) as running:  # the orchestrator restarts
        await wait_status(running.api, sids[0], "connected", timeout=30)
        assert await refs(running) == placed  # adopted, none replaced
        crowded = next(ref for ref in placed.values() if _load(placed, ref) == 3)
        os.kill(host_pid(crowded), signal.SIGKILL)
        victims = [sid for sid, ref in placed.items() if ref.host_id == crowded.host_id]

        async def restarted() -> bool:
            now = await refs(running)
            return all(sid in now and now[sid].host_id != crowded.host_id for sid in victims)

        await eventually(restarted, timeout=30)
        first = victims[0] if sids[0] in victims else sids[0]
        await wait_status(running.api, first, "connected", timeout=30)  # its login kept: no QR
        for sid in victims:
            assert (await running.core.store.find(sid)).restarts == 1  # one crash, one restart each
        hosts = {host_pid(ref) for ref in (await refs(running)).values()}
        for sid in sids:
            assert (await running.api.delete(f"/api/sessions/{sid}")).status_code in (200, 202, 204)

        async def hosts_ended() -> bool:
            return not any(psutil.pid_exists(pid) and _is_host(pid) for pid in hosts)

        await eventually(hosts_ended, timeout=30)


def _load(placed: dict[str, HostedRef], ref: HostedRef) -> int:
    return sum(other.host_id == ref.host_id for other in placed.values())


def _is_host(pid: int) -> bool:
    with contextlib.suppress(psutil.Error):
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and "worker-host" in " ".join(process.cmdline())
    return False


def hosted_environment(settings: Settings, session_id: str, **extra: str) -> dict[str, str]:
    """A session's worker variables, as the lifecycle gives them (its webhook: nobody listens; events spool)."""
    return {
        "PATH": os.environ["PATH"],
        "SESSION_ID": session_id,
        "WEBHOOK_URL": f"http://127.0.0.1:{free_port()}/webhook",
        "WEBHOOK_KEY": "k",
        "COMMAND_KEY": "c",
        "AUTH_DIR": str(settings.sessions_dir / session_id),
        "PING_INTERVAL_MS": "500",
        **extra,
    }


def spec_of(settings: Settings, session_id: str, **extra: str) -> WorkerSpec:
    environment = hosted_environment(settings, session_id, **extra)
    return WorkerSpec(
        session_id, environment, settings.sessions_dir / session_id, worker_log_path(settings, session_id)
    )


@pytest.mark.timeout(90)
async def test_a_hung_neonize_client_ends_its_session_alone_and_drains_its_host(make_settings, sim) -> None:
    """Its proxy accepts TCP and never answers (whatsmeow cannot stop such a client): the session ends `hung`,
    its neighbour goes on, the host takes no new session and ends hard once its last session is gone."""
    settings = make_settings(SIM_URL=sim.url, SESSIONS_PER_WORKER="3")
    runner = HostedRunner(settings)
    silent = SilentSocks()
    await silent.start()
    try:
        calm = await runner.start(spec_of(settings, "worker_1", WORKER_ENGINE="sim", SIM_URL=sim.url))
        stuck = await runner.start(
            spec_of(settings, "worker_2", WORKER_ENGINE="neonize", PROXY_URL=silent.url(), CONNECT_TIMEOUT_MS="2000")
        )
        host = host_pid(HostedRef.parse(stuck))  # type: ignore[arg-type]
        assert host == host_pid(HostedRef.parse(calm))  # type: ignore[arg-type]
        assert (await runner.survey([calm]))[calm] == Liveness(True)

        async def stuck_ended() -> bool:
            return not (await runner.survey([stuck]))[stuck].alive

        await eventually(stuck_ended, timeout=30)
        seen = (await runner.survey([calm]))[calm]
        assert seen.alive and "is drained" in str(seen.move)  # the watchdog moves it to another host
        assert "worker worker_2 ends: hung" in worker_log_path(settings, "worker_2").read_text()
        later = await runner.start(spec_of(settings, "worker_3", WORKER_ENGINE="sim", SIM_URL=sim.url))
        assert host_pid(HostedRef.parse(later)) != host  # type: ignore[arg-type]  # drained: no new session
        await runner.stop(calm, 5.0)
        await eventually(lambda: _gone(host), timeout=20)  # ends hard: the hung thread cannot hold it
        await runner.stop(later, 5.0)
    finally:
        await runner.close()
        await silent.close()


async def _gone(pid: int) -> bool:
    return not _is_host(pid)
