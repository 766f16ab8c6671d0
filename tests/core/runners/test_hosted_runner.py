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
from waorch.core.watchdog import Survey

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


async def provisioned(running: RunningService, count: int) -> list[str]:
    """``count`` new sessions, each with its QR shown (its worker placed and running)."""
    sids = [(await running.api.post("/api/sessions/provision", json={})).json()["sessionId"] for _ in range(count)]
    for sid in sids:
        await wait_status(running.api, sid, "qr_ready", timeout=30)
    return sids


async def asked(runner: HostedRunner) -> dict[str, int]:
    """How many times each live worker host has been asked what it runs (this time included)."""
    return {host.id: state.asked for host, state in await runner.hosts()}


async def test_a_watchdog_pass_asks_each_worker_host_once(start_service) -> None:
    """5 sessions in 2 hosts: a pass (and the count of live workers) reads each host once, not twice per session."""
    running = await start_service(SESSIONS_PER_WORKER="3", WATCHDOG_INTERVAL_MS="600000")
    sids = await provisioned(running, 5)
    probe = HostedRunner(running.settings)
    try:
        before = await asked(probe)
        await running.core.watchdog.check_once()
        after_pass = await asked(probe)
        assert await running.core.live_workers() == 5
        after_count = await asked(probe)
    finally:
        await probe.close()
    assert len(before) == 2
    assert {host: after_pass[host] - count for host, count in before.items()} == dict.fromkeys(before, 2)  # + probe
    assert {host: after_count[host] - count for host, count in after_pass.items()} == dict.fromkeys(before, 2)
    for sid in sids:  # every worker adopted as it was
        assert (await running.core.store.get(sid)).restarts == 0


async def test_a_session_started_again_in_its_host_after_a_pass_looked_is_not_restarted(start_service) -> None:
    """The pass saw the worker gone (it was being started again, by a proxy's failover say); started again in the
    same host it has the same ref, but a new generation: it is asked about again, and kept."""
    running = await start_service(SESSIONS_PER_WORKER="3", WATCHDOG_INTERVAL_MS="600000")
    sid, _ = await provisioned(running, 2)  # the other keeps the host up
    listed = await running.core.store.get(sid)
    await running.core.lifecycle.stop(sid)
    seen = Survey({sid: (listed.worker, listed.generation)}, await running.core.runner.survey([listed.worker]))
    assert not seen.liveness[listed.worker].alive
    await running.core.lifecycle.start(sid)
    started = await running.core.store.get(sid)
    assert (started.worker, started.generation) == (listed.worker, listed.generation + 1)
    await running.core.watchdog.check(sid, seen)
    kept = await running.core.store.get(sid)
    assert (kept.worker, kept.restarts) == (started.worker, 0)
    assert await running.core.starts.due_at(sid) is None


@pytest.mark.timeout(90)
async def test_the_watchdog_moves_the_sessions_of_a_drained_host(start_service, sim) -> None:
    """A neonize client in the host hung (the host is drained): the next pass moves the host's other session to
    another host, at once and without counting a restart."""
    running = await start_service(SESSIONS_PER_WORKER="3", WATCHDOG_INTERVAL_MS="600000")
    [sid] = await provisioned(running, 1)
    drained = HostedRef.parse((await running.core.store.get(sid)).worker)
    probe = HostedRunner(running.settings)
    silent = SilentSocks()
    await silent.start()
    try:
        stuck = await probe.start(
            spec_of(
                running.settings,
                "worker_99",
                WORKER_ENGINE="neonize",
                PROXY_URL=silent.url(),
                CONNECT_TIMEOUT_MS="2000",
            )
        )
        assert HostedRef.parse(stuck).host_id == drained.host_id  # type: ignore[union-attr]

        async def hung() -> bool:
            return not (await probe.survey([stuck]))[stuck].alive

        await eventually(hung, timeout=30)
        await running.core.watchdog.check_once()

        async def moved() -> HostedRef | None:
            ref = HostedRef.parse((await running.core.store.get(sid)).worker)
            return ref if ref is not None and ref.host_id != drained.host_id else None  # type: ignore[union-attr]

        await eventually(moved, timeout=20)
        await wait_status(running.api, sid, "qr_ready", timeout=30)
        assert (await running.core.store.get(sid)).restarts == 0
        await eventually(lambda: _gone(host_pid(drained)), timeout=20)  # type: ignore[arg-type]
    finally:
        await probe.close()
        await silent.close()


@pytest.mark.timeout(90)
async def test_a_host_that_does_not_answer_holds_up_no_other_hosts_sessions(start_service) -> None:
    """One host is stopped (SIGSTOP: alive, answering nothing), another killed: the pass still restarts the
    killed host's sessions, and leaves the silent host's alone while their pings are not overdue."""
    running = await start_service(SESSIONS_PER_WORKER="2", WATCHDOG_INTERVAL_MS="600000")
    sids = await provisioned(running, 4)
    placed = await refs(running)
    frozen, killed = sorted({ref.host_id: host_pid(ref) for ref in placed.values()}.items())
    os.kill(killed[1], signal.SIGKILL)
    await eventually(lambda: _gone(killed[1]), timeout=10)
    os.kill(frozen[1], signal.SIGSTOP)
    try:
        await running.core.watchdog.check_once()
        restarted = {sid: (await running.core.store.get(sid)).restarts for sid in sids}
    finally:
        os.kill(frozen[1], signal.SIGCONT)
    assert restarted == {sid: int(placed[sid].host_id == killed[0]) for sid in sids}
