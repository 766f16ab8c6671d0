"""Nothing a worker receives is dropped: facts wait on disk in its auth dir until the orchestrator
accepts them, across the worker's end, a kill -9 and the orchestrator being down."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from support import Serve, eventually, free_port
from test_crashes import provision_connected

from waorch.signing import TIMESTAMP_HEADER, verify
from waorch.worker.emitter import Emitter
from waorch.worker.spool import COMPACT_AFTER, SPOOL_FILE, EventSpool

KEY = "worker-key-0123456789abcdef"


def event(n: int) -> bytes:
    return json.dumps({"type": "MESSAGE_RECEIVED", "data": {"waId": f"W{n}"}}).encode()


def test_events_wait_on_disk_until_delivered_and_come_back_in_order(tmp_path: Path) -> None:
    spool = EventSpool(tmp_path)
    seqs = [spool.add(event(n)) for n in range(3)]
    spool.delivered(seqs[0])
    assert EventSpool(tmp_path).pending() == [(seqs[1], event(1)), (seqs[2], event(2))]
    assert (tmp_path / SPOOL_FILE).stat().st_mode & 0o777 == 0o600
    for seq in seqs[1:]:
        spool.delivered(seq)
    assert EventSpool(tmp_path).pending() == [] and (tmp_path / SPOOL_FILE).stat().st_size == 0


def test_a_line_torn_by_a_crash_costs_nothing_after_it(tmp_path: Path) -> None:
    EventSpool(tmp_path).add(event(1))
    with open(tmp_path / SPOOL_FILE, "ab") as spool:
        spool.write(b'{"seq":2,"event":{"ty')  # power cut in the middle of an append
    again = EventSpool(tmp_path)
    again.add(event(3))
    assert [body for _, body in EventSpool(tmp_path).pending()] == [event(1), event(3)]


def test_a_long_backlog_is_compacted_and_keeps_its_order(tmp_path: Path) -> None:
    spool = EventSpool(tmp_path)
    seqs = [spool.add(event(n)) for n in range(COMPACT_AFTER + 300)]
    for seq in seqs[: COMPACT_AFTER + 100]:
        spool.delivered(seq)
    lines = (tmp_path / SPOOL_FILE).read_bytes().splitlines()
    assert len(lines) < COMPACT_AFTER  # not 1,300 events and 1,100 delivery marks
    assert [body for _, body in EventSpool(tmp_path).pending()] == [
        event(n) for n in range(COMPACT_AFTER + 100, COMPACT_AFTER + 300)
    ]


class Webhook:
    """A stand-in for the orchestrator's webhook that checks each signature; it can answer 503."""

    def __init__(self) -> None:
        self.port = free_port()
        self.bodies: list[dict] = []
        self.stamps: list[int] = []
        self.status = 200
        self.refused = 0
        self._runner: web.AppRunner | None = None

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        verify(KEY, request.headers, body)
        if self.status == 200:
            self.bodies.append(json.loads(body))
            self.stamps.append(int(request.headers[TIMESTAMP_HEADER]))
        else:
            self.refused += 1
        return web.json_response({"ok": self.status == 200}, status=self.status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/webhook", self.receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()


@pytest.fixture
async def webhook() -> AsyncIterator[Webhook]:
    hook = Webhook()
    yield hook
    await hook.stop()


async def test_a_backlog_beyond_the_old_queue_limit_survives_the_worker_and_is_signed_when_posted(
    tmp_path: Path, webhook: Webhook
) -> None:
    url = f"http://127.0.0.1:{webhook.port}/webhook"
    first = Emitter(url, KEY, "worker_1", 0, EventSpool(tmp_path))
    await first.start()  # the orchestrator is down: nothing answers
    for n in range(2500):
        await first.emit("MESSAGE_RECEIVED", {"waId": f"W{n}", "text": f"n{n}"})
        if n % 500 == 0:
            await first.emit("PING", {"commandUrl": "http://127.0.0.1:1"})
    await first.close(flush_timeout=0.2)  # the worker ends with everything undelivered

    await webhook.start()
    webhook.status = 503  # up, but its Redis is not
    back = time.time()
    second = Emitter(url, KEY, "worker_1", 1, EventSpool(tmp_path))
    await second.start()
    await second.emit("MESSAGE_SENT", {"messageId": "msg_1"})
    await eventually(lambda: _refused(webhook, 3), timeout=10)
    webhook.status = 200
    await eventually(lambda: _received(webhook, 2501), timeout=30)
    await second.close()
    kinds = [(b["type"], b["data"].get("waId") or b["data"].get("messageId")) for b in webhook.bodies]
    assert kinds == [("MESSAGE_RECEIVED", f"W{n}") for n in range(2500)] + [("MESSAGE_SENT", "msg_1")]
    assert min(webhook.stamps) >= int(back)  # signed when posted, not when the event happened
    assert EventSpool(tmp_path).pending() == []


async def _refused(webhook: Webhook, count: int) -> bool:
    return webhook.refused >= count


async def _received(webhook: Webhook, count: int) -> bool:
    return len(webhook.bodies) >= count


@pytest.mark.timeout(120)
async def test_messages_received_while_the_orchestrator_is_down_arrive_once_after_the_worker_is_killed(
    serve: Serve, sim
) -> None:
    serve.start()
    async with serve.api() as api:
        sid = await provision_connected(api, sim.url, "972501111111")
    worker_pid = int(serve.session_hash(sid)["worker"].split(":")[0])
    serve.kill()  # the orchestrator is down; the worker keeps running
    texts = [f"while down {n} ✓" for n in range(5)]
    async with httpx.AsyncClient(trust_env=False) as client:
        for text in texts:
            answer = await client.post(
                f"{sim.url}/sim/phones/972501111111/incoming", json={"from": "972509999999", "text": text}
            )
            assert answer.status_code == 200
    worker_log = serve.data_dir / "logs" / f"{sid}.log"
    await eventually(lambda: _logged(worker_log, len(texts)), timeout=20)  # the worker has them
    os.kill(worker_pid, signal.SIGKILL)
    serve.start()  # its watchdog starts the session's worker again; that worker delivers the spool
    async with serve.api() as api:

        async def inbox() -> list[dict] | None:
            messages = (await api.get(f"/api/sessions/{sid}/messages")).json()["messages"]
            return messages if len(messages) >= len(texts) else None

        messages = await eventually(inbox, timeout=60, interval=0.2)
    assert [m["text"] for m in reversed(messages)] == texts


async def _logged(path: Path, count: int) -> bool:
    return (await asyncio.to_thread(path.read_bytes)).count(b"event MESSAGE_RECEIVED") >= count
