"""Nothing accepted is lost, nothing is sent twice: kill -9 of the orchestrator, of Redis, of a worker."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
from urllib.parse import urlsplit

import httpx
import pytest
from impostor import Impostor
from support import (
    RunningService,
    Serve,
    both_worker_modes,  # noqa: F401  (the fixture: both worker modes)
    eventually,
    scan,
    wait_status,
    worker_pid,
)
from test_sending import FAST, connected_session

from waorch.clock import ScaledClock

SETTLED = {"sent", "unknown", "failed", "dead"}


async def provision_connected(api: httpx.AsyncClient, sim_url: str, phone: str) -> str:
    sid = (await api.post("/api/sessions/provision", json={})).json()["sessionId"]
    ready = await wait_status(api, sid, "qr_ready", timeout=20)
    await scan(sim_url, ready["qr"], phone)
    await wait_status(api, sid, "connected", timeout=20)
    return sid


async def sim_logs(sim_url: str, phones: list[str]) -> list[dict]:
    async with httpx.AsyncClient(trust_env=False) as client:
        logs = [(await client.get(f"{sim_url}/sim/phones/{p}/messages")).json() for p in phones]
    return [entry for log in logs for entry in log]


async def statuses(api: httpx.AsyncClient, ids: list[str]) -> dict[str, str]:
    answers = await asyncio.gather(*(api.get(f"/api/v1/messages/{m}") for m in ids))
    return {m: a.json()["status"] for m, a in zip(ids, answers, strict=True)}


@pytest.mark.timeout(240)
async def test_orchestrator_kill_9_mid_dispatch(serve: Serve, sim) -> None:
    serve.env["MAX_SESSIONS_PER_PROXY"] = "5"
    serve.start()
    phones = [f"97250111111{n}" for n in range(5)]
    async with serve.api() as api:
        assert (await api.put("/api/trust-tiers", json={"tiers": [FAST]})).status_code == 200
        sessions = [await provision_connected(api, sim.url, phone) for phone in phones]
        ids = []
        for n in range(200):
            answer = await api.post(
                "/api/v1/send", json={"to": "+972522222222", "message": f"n{n}", "sessionId": sessions[n % 5]}
            )
            assert answer.status_code == 202
            ids.append(answer.json()["messageId"])

        async def some_sent() -> bool:
            return len(await sim_logs(sim.url, phones)) >= 40

        await eventually(some_sent, timeout=60)
    serve.kill()
    serve.start()
    async with serve.api() as api:

        async def all_settled() -> dict[str, str] | None:
            current = await statuses(api, ids)
            return current if set(current.values()) <= SETTLED else None

        final = await eventually(all_settled, timeout=120, interval=0.5)
    log = await sim_logs(sim.url, phones)
    times_sent = collections.Counter(entry["messageId"] for entry in log)
    assert max(times_sent.values()) == 1, "nothing was sent twice"
    unknown = [m for m, s in final.items() if s == "unknown"]
    assert set(final.values()) <= {"sent", "unknown"}
    assert len(unknown) <= len(sessions), "only sends in flight at the crash can be unknown"
    assert all(times_sent[m] == 1 for m, s in final.items() if s == "sent"), "every sent message is in the log once"
    print(f"orchestrator kill -9: {len(ids)} accepted, {len(times_sent)} delivered, {len(unknown)} unknown")


@pytest.mark.timeout(120)
async def test_redis_kill_9_keeps_every_accepted_message(serve: Serve, sim) -> None:
    serve.start()
    async with serve.api() as api:
        await api.put("/api/trust-tiers", json={"tiers": [FAST]})
        sid = await provision_connected(api, sim.url, "972501111111")
        await api.post(f"/api/sessions/{sid}/queue/pause")
        accepted: list[str] = []

        async def post_forever() -> None:
            n = 0
            while True:
                try:
                    answer = await api.post(
                        "/api/v1/send", json={"to": "+972522222222", "message": f"k{n}", "sessionId": sid}
                    )
                except httpx.HTTPError:
                    continue
                if answer.status_code == 202:
                    accepted.append(answer.json()["messageId"])
                n += 1

        poster = asyncio.create_task(post_forever())

        async def enough() -> bool:
            return len(accepted) >= 30

        await eventually(enough, timeout=20, interval=0.01)
        os.kill(serve.redis_pid(), signal.SIGKILL)
        await asyncio.sleep(0.3)
        poster.cancel()
        await asyncio.gather(poster, return_exceptions=True)
    serve.stop()
    serve.start()
    async with serve.api() as api:
        final = await statuses(api, accepted)
    assert set(final.values()) == {"queued"}, "every message answered 202 survived the Redis crash"
    print(f"redis kill -9: {len(accepted)} accepted, all present")


@pytest.mark.timeout(90)
async def test_worker_killed_mid_send_sends_nothing_twice(start_service, sim) -> None:
    running: RunningService = await start_service()
    slow_typing = {**FAST, "delayMinMs": 0, "delayMaxMs": 0}
    await running.api.put("/api/trust-tiers", json={"tiers": [slow_typing]})
    sid = await connected_session(running, sim.url, "972501111111")
    long_text = "typing takes a while " * 20  # about 8 s of "typing…"
    first = (
        await running.api.post("/api/v1/send", json={"to": "+972522222222", "message": long_text, "sessionId": sid})
    ).json()["messageId"]

    async def sending() -> bool:
        return (await running.api.get(f"/api/v1/messages/{first}")).json()["status"] == "sending"

    await eventually(sending, timeout=10)
    await asyncio.sleep(0.5)
    worker = (await running.core.store.get(sid)).worker
    os.kill(worker_pid(worker), signal.SIGKILL)
    second = (
        await running.api.post("/api/v1/send", json={"to": "+972522222222", "message": "after", "sessionId": sid})
    ).json()["messageId"]

    async def settled() -> dict[str, str] | None:
        current = await statuses(running.api, [first, second])
        return current if current[second] == "sent" and current[first] in SETTLED else None

    final = await eventually(settled, timeout=60, interval=0.3)
    log = await sim_logs(sim.url, ["972501111111"])
    counts = collections.Counter(entry["messageId"] for entry in log)
    assert counts[first] <= 1 and counts[second] == 1
    assert final[first] == ("sent" if counts[first] else "unknown")


@pytest.mark.timeout(90)
async def test_a_process_on_a_dead_workers_port_cannot_report_its_messages_sent(start_service, sim_factory) -> None:
    """A local process takes a crashed worker's loopback port before the watchdog notices: it gets
    the command and answers "sent" (to the send and to the journal lookup), and the message stays
    unsettled; the watchdog finds the worker dead and forgets its address, and the new worker sends
    the message, once."""
    clock = ScaledClock(20)  # the retry after "never started" comes in 1.5 s
    sim = await sim_factory(clock=clock, qr_first_ttl=30, qr_ttl=10)
    running: RunningService = await start_service(clock=clock, SIM_URL=sim.url, WATCHDOG_INTERVAL_MS="600000")
    await running.api.put("/api/trust-tiers", json={"tiers": [FAST]})
    sid = await connected_session(running, sim.url, "972501111111")
    dead = await running.core.store.get(sid)
    os.kill(worker_pid(dead.worker), signal.SIGKILL)
    impostor = Impostor(port=urlsplit(dead.command_url).port)
    await eventually(lambda: _listening(impostor))
    try:
        sent = await running.api.post("/api/v1/send", json={"to": "+972522222222", "message": "hi", "sessionId": sid})
        message_id = sent.json()["messageId"]
        await eventually(lambda: _asked(impostor, {"send", "status"}))
        assert (await statuses(running.api, [message_id]))[message_id] == "sending"
        await running.core.watchdog.check_once()
        assert (await running.core.store.get(sid)).command_url != dead.command_url
        asked = len(impostor.received)

        async def delivered() -> bool:
            return (await statuses(running.api, [message_id]))[message_id] == "sent"

        await eventually(delivered, timeout=30)
        assert len(impostor.received) == asked  # nothing more went to the old address
    finally:
        await impostor.stop()
    assert [entry["messageId"] for entry in await sim_logs(sim.url, ["972501111111"])] == [message_id]


async def _listening(impostor: Impostor) -> bool:
    try:
        await impostor.start()
    except OSError:
        return False
    return True


async def _asked(impostor: Impostor, commands: set[str]) -> bool:
    return commands <= {request.json.get("command") for request in impostor.received}
