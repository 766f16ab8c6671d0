"""Idle footprint of worker processes: neonize workers and sim workers, each behind its own proxy.

Real parts: `waorch worker` processes, the simulator (in this process), a webhook that takes their
events, and one recording SOCKS5 proxy per worker on loopback. A proxy notes when its worker's
first CONNECT arrives; it forwards connections to loopback (the simulator) and holds any other
one unanswered, so the neonize worker stays in its connect attempt, idle, and sends nothing
beyond this machine. Prints RSS and private memory (USS) of each worker once idle, and the time
from process start to the first connect attempt. No assertions.

Private memory (USS) counts library pages no other process maps: a lone neonize worker owns the
whole Go library; with --neonize-workers 2 or more, each extra one shares it.

    .venv/bin/python benchmarks/worker_footprint.py [--neonize-workers 1] [--sim-workers 5] [--settle 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from aiohttp import web

from waorch.sim.server import SimOptions, SimServer
from waorch.sim.socks import SocksRequest, SocksServer, on_this_machine

LOOPBACK = "127.0.0.1"
FACTS = "FACTS.md (2 cores): idle neonize worker 68.5 MB RSS, ~41 MB private per extra process"


class RecordingProxy(SocksServer):
    """The built-in SOCKS5 server (no auth) noting its first CONNECT; forwards to loopback, holds the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.first_connect: float | None = None
        self.target = ""

    async def connect(self, request: SocksRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.first_connect = self.first_connect or time.monotonic()
        self.target = self.target or f"{request.host}:{request.port}"
        if on_this_machine(request.host):
            await super().connect(request, reader, writer)
        else:
            await reader.read()  # hold it: never answer, never connect beyond this machine


class Webhook:
    """Takes the workers' events; remembers which sessions have shown a QR code."""

    def __init__(self) -> None:
        self.qr_shown: set[str] = set()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/webhook", self._post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, LOOPBACK, 0)
        await site.start()
        self.url = f"http://{LOOPBACK}:{self._runner.addresses[0][1]}/webhook"

    async def _post(self, request: web.Request) -> web.Response:
        event = await request.json()
        if event["type"] == "QR_CODE":
            self.qr_shown.add(event["sessionId"])
        return web.json_response({"ok": True})

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@dataclass
class Worker:
    """One worker process and its proxy."""

    kind: str
    session_id: str
    proxy: RecordingProxy
    started: float = 0.0
    process: asyncio.subprocess.Process | None = field(default=None, repr=False)

    @property
    def connect_latency(self) -> float | None:
        first = self.proxy.first_connect
        return first - self.started if first is not None else None

    def memory(self) -> tuple[float, float]:
        """RSS and USS in MiB."""
        assert self.process is not None
        info = psutil.Process(self.process.pid).memory_full_info()
        return info.rss / 2**20, info.uss / 2**20


async def start_worker(worker: Worker, webhook: Webhook, sim: SimServer, data: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(data),
        "SESSION_ID": worker.session_id,
        "WEBHOOK_URL": webhook.url,
        "WEBHOOK_KEY": "benchmark-key",
        "COMMAND_KEY": "benchmark-key",
        "AUTH_DIR": str(data / worker.session_id),
        "WORKER_ENGINE": worker.kind,
        "SIM_URL": sim.url,
        "PROXY_URL": f"socks5h://{LOOPBACK}:{worker.proxy.port}",
        "PING_INTERVAL_MS": "60000",
    }
    worker.started = time.monotonic()
    worker.process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "waorch",
        "worker",
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


def idle(worker: Worker, webhook: Webhook) -> bool:
    """neonize: its connect attempt reached the proxy; sim: it shows a QR code."""
    if worker.kind == "neonize":
        return worker.proxy.first_connect is not None
    return worker.session_id in webhook.qr_shown


async def wait_idle(workers: list[Worker], webhook: Webhook, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(idle(worker, webhook) for worker in workers):
        if time.monotonic() > deadline:
            raise TimeoutError("workers did not get idle in time")
        await asyncio.sleep(0.05)


async def end(workers: list[Worker]) -> None:
    """Close the proxies (the neonize worker's connect then fails and it exits), stop the sim workers."""
    for worker in workers:
        await worker.proxy.close()
    for worker in workers:
        if worker.process is not None and worker.kind == "sim" and worker.process.returncode is None:
            worker.process.terminate()
    for process in (worker.process for worker in workers if worker.process is not None):
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()


def report(workers: list[Worker], samples: dict[str, tuple[float, float]]) -> None:
    print(f"{'worker':<10} {'engine':<8} {'RSS MiB':>8} {'USS MiB':>8} {'start->connect s':>17}  first CONNECT")
    for worker in workers:
        rss, uss = samples[worker.session_id]
        latency = worker.connect_latency
        shown = f"{latency:.3f}" if latency is not None else "-"
        print(f"{worker.session_id:<10} {worker.kind:<8} {rss:>8.1f} {uss:>8.1f} {shown:>17}  {worker.proxy.target}")
    for kind in ("neonize", "sim"):
        mine = [worker for worker in workers if worker.kind == kind]
        if not mine:
            continue
        rss = statistics.mean(samples[worker.session_id][0] for worker in mine)
        uss = statistics.mean(samples[worker.session_id][1] for worker in mine)
        latencies = [worker.connect_latency for worker in mine if worker.connect_latency is not None]
        print(
            f"{kind}: {len(mine)} worker(s), mean RSS {rss:.1f} MiB, mean private (USS) {uss:.1f} MiB, "
            f"start -> first connect attempt {statistics.mean(latencies):.3f} s"
        )
    print(f"for comparison, {FACTS}")


async def main(neonize_workers: int, sim_workers: int, settle: float) -> None:
    sim, webhook = SimServer(SimOptions()), Webhook()
    await sim.start()
    await webhook.start()
    kinds = ["neonize"] * neonize_workers + ["sim"] * sim_workers
    workers = [Worker(kind, f"worker_{n}", RecordingProxy()) for n, kind in enumerate(kinds, 1)]
    with tempfile.TemporaryDirectory() as data:
        try:
            for worker in workers:
                await worker.proxy.start()
                await start_worker(worker, webhook, sim, Path(data))
            await wait_idle(workers, webhook)
            await asyncio.sleep(settle)
            samples = {worker.session_id: worker.memory() for worker in workers}
        finally:
            await end(workers)
            await webhook.close()
            await sim.stop()
    report(workers, samples)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neonize-workers", type=int, default=1, help="neonize workers")
    parser.add_argument("--sim-workers", type=int, default=5, help="sim workers")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds idle before measuring")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.neonize_workers, arguments.sim_workers, arguments.settle))
