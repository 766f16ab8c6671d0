"""Density mode (``SESSIONS_PER_WORKER`` = 3): sessions fill worker hosts, each still a session of its own (its
status, pings, log file); an orchestrator restart adopts them; a killed host's sessions come back (one restart
each, the paired one without a QR); hosts with no session left end by themselves."""

from __future__ import annotations

import contextlib
import os
import signal
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import psutil
from support import API_KEY, RunningService, eventually, scan, wait_status

from waorch.config import Settings
from waorch.core.runners.hosted import HostedRef
from waorch.service import running_service

PHONE = "972501111111"


@contextlib.asynccontextmanager
async def orchestrator(settings: Settings, *, stop_workers: bool) -> AsyncIterator[RunningService]:
    async with (
        running_service(settings, stop_workers=stop_workers) as service,
        httpx.AsyncClient(base_url=service.base_url, headers={"X-API-Key": API_KEY}, trust_env=False) as api,
    ):
        yield RunningService(service, api, settings)


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
