"""Idle footprint of worker processes: neonize workers and sim workers, each behind its own proxy.

Real parts: `waorch worker` processes, the simulator (in this process), a webhook that takes their
events, and one recording SOCKS5 proxy per worker on loopback. A proxy notes when its worker's
first CONNECT arrives; it forwards connections to loopback (the simulator) and holds any other
one unanswered, so the neonize worker stays in its connect attempt, idle, and sends nothing
beyond this machine. Prints RSS and private memory (USS) of each worker once idle, and the time
from process start to the first connect attempt. No assertions.

Private memory (USS) counts library pages no other process maps: a lone neonize worker owns the
whole Go library; with --neonize-workers 2 or more, each extra one shares it.

Density table (issue 14): for each count in --density, one process
(``benchmarks/neonize_clients.py``) hosts that many neonize clients, built as the neonize engine
builds its client, each with its own sqlite auth database and its own recording proxy, which holds
its CONNECT unanswered (the client hangs in its connect, idle). Once every proxy has seen its
CONNECT and the process has settled, it prints the process's USS, per session and per additional
session (against 1 client), its OS threads, the time from the first connect command until all
clients reached their proxies, the CONNECTs each proxy saw, and how long one more client, through
a proxy that refuses, takes to get its error beside the hung ones. The process is then killed
(a hung client cannot be stopped); it also ends itself when this script's end closes its stdin.

Measured here (2 cores, neonize 0.5.2; clients not logged in, so no keys, app state or live
WhatsApp connection are counted: a logged-in client costs more):
- Process USS ~64 MiB with neonize imported and no client, ~68 MiB with 1, 78 MiB with 20,
  92-93 MiB with 50: 0.5-0.8 MiB per additional client (0.5-0.6 at 20 and 50), so the target
  (<= 5 MiB per additional session at 20, against ~48 MiB per worker process today) is met.
- Each client dials through its own proxy: every proxy saw exactly one CONNECT
  (web.whatsapp.com:443), none saw two, none was skipped.
- A hung connect does not delay the others: 50 clients reach their proxies within 0.13-0.17 s,
  and a refused connect beside 1, 5, 20 or 50 hung clients fails in 6-11 ms, with no trend in the
  number of hung ones (9-13 ms as the process's first client).
- Threads: 8 with no client, then one more per client (58-59 at 50: the Go runtime sometimes
  adds one): each client's connect occupies one thread of the loop's default executor for the
  client's whole life, hung or not.
  With the engine's 32 executor threads, 50 clients leave 18 never dialling and a further connect
  getting no answer (``--executor-threads 32 --density 50``: 32/50 reached, no refusal): a density
  process needs an executor of N + spare threads for its other neonize calls.

The sim engine's density rows: for each count in --sim-density, that many sim sessions started through the
hosted runner (``SESSIONS_PER_WORKER`` = the count, so one real ``waorch worker-host``), each through its own
recording proxy (which relays to the simulator), with its own auth dir and log file. Once every session shows
its QR and the host has settled, it prints the host's USS, per session and per additional session (against 1).
Measured here (2 cores): 26.1 MiB with 1 session, 26.3 with 5, 27.3 with 20, 29.3 with 50: 0.04-0.07 MiB per
additional session, against ~25 MiB for a sim worker in a process of its own (the first table).
``benchmarks/fleet.py`` finds the same once connected: 27.4 MiB per host of 20 sessions.

    .venv/bin/python benchmarks/worker_footprint.py [--neonize-workers 1] [--sim-workers 5] [--settle 3]
        [--density 0 1 5 20 50] [--executor-threads N] [--sim-density 1 5 20 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from aiohttp import web
from common import sim_environment, worker_pid

from waorch.config import load_settings
from waorch.core.runners.base import WorkerSpec
from waorch.core.runners.hosted import HostedRef, HostedRunner
from waorch.sim.server import SimOptions, SimServer
from waorch.sim.socks import SocksRequest, SocksServer, on_this_machine

LOOPBACK = "127.0.0.1"
FACTS = "FACTS.md (2 cores): idle neonize worker 68.5 MB RSS, ~41 MB private per extra process"


class RecordingProxy(SocksServer):
    """The built-in SOCKS5 server (no auth) counting CONNECTs and noting the first; forwards to loopback
    and holds the rest (with ``hold=False``, refuses the rest)."""

    def __init__(self, hold: bool = True) -> None:
        super().__init__()
        self.hold = hold
        self.connects = 0
        self.first_connect: float | None = None
        self.target = ""

    async def connect(self, request: SocksRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connects += 1
        self.first_connect = self.first_connect or time.monotonic()
        self.target = self.target or f"{request.host}:{request.port}"
        if on_this_machine(request.host) or not self.hold:
            await super().connect(request, reader, writer)  # relays to loopback, refuses the rest
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


def worker_environment(worker: Worker, webhook: Webhook, sim: SimServer, data: Path) -> dict[str, str]:
    """The variables a runner gives ``worker``'s session: its engine, its proxy, this script's webhook."""
    return {
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


async def start_worker(worker: Worker, webhook: Webhook, sim: SimServer, data: Path) -> None:
    worker.started = time.monotonic()
    worker.process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "waorch",
        "worker",
        env=worker_environment(worker, webhook, sim, data),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


def idle(worker: Worker, webhook: Webhook) -> bool:
    """neonize: its connect attempt reached the proxy; sim: it shows a QR code."""
    if worker.kind == "neonize":
        return worker.proxy.first_connect is not None
    return worker.session_id in webhook.qr_shown


async def poll(condition: Callable[[], bool], timeout: float) -> bool:
    """Whether ``condition`` came true within ``timeout`` seconds (checked every 50 ms)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def wait_idle(workers: list[Worker], webhook: Webhook, timeout: float = 30.0) -> None:
    if not await poll(lambda: all(idle(worker, webhook) for worker in workers), timeout):
        raise TimeoutError("workers did not get idle in time")


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


async def workers_table(neonize_workers: int, sim_workers: int, settle: float) -> None:
    """One worker process a session: the table above."""
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


# -- density: many neonize clients in one process ----------------------------------------------------------

HOST = Path(__file__).with_name("neonize_clients.py")
SPARE_THREADS = 8
REACH_TIMEOUT = 60.0
REFUSAL_TIMEOUT = 15.0
TARGET_CLIENTS, TARGET_MIB = 20, 5.0
PER_PROCESS_TODAY = "~48 MiB private per neonize worker process when several share the library"
SIM_PER_PROCESS = "a sim worker in a process of its own: ~25 MiB private (the sim rows of the first table)"


class ClientHost:
    """``benchmarks/neonize_clients.py`` in its own process: starts clients on command, reports refusals."""

    def __init__(self, process: asyncio.subprocess.Process, started: float) -> None:
        self.process = process
        self.started = started

    @classmethod
    async def start(cls, data: Path, executor_threads: int) -> ClientHost:
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HOST),
            str(data),
            "--executor-threads",
            str(executor_threads),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return cls(process, started)

    async def answer(self) -> list[str]:
        """The host's next answer (a stdout line starting with ``@``), split into words."""
        assert self.process.stdout is not None
        while line := (await self.process.stdout.readline()).decode():
            if line.startswith("@"):
                return line[1:].split()
        raise RuntimeError(f"the client host ended (exit code {await self.process.wait()})")

    async def ready(self) -> float:
        """Wait until neonize is imported; the seconds since the process started."""
        await asyncio.wait_for(self.answer(), REACH_TIMEOUT)
        return time.monotonic() - self.started

    def connect(self, name: str, proxy: RecordingProxy) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"connect {name} {proxy.url()}\n".encode())

    async def failure(self, name: str) -> float | None:
        """Seconds from client ``name``'s ``connect()`` to its error, as the host measured it (None: none came)."""
        try:
            return await asyncio.wait_for(self._failure(name), REFUSAL_TIMEOUT)
        except TimeoutError:
            return None

    async def _failure(self, name: str) -> float:
        while (answer := await self.answer())[:2] != ["failed", name]:
            pass
        return float(answer[2])

    def sample(self) -> tuple[float, int]:
        """Private memory (USS, MiB) and OS threads."""
        process = psutil.Process(self.process.pid)
        return process.memory_full_info().uss / 2**20, process.num_threads()

    async def kill(self) -> None:
        """Hung clients cannot be stopped: the process is killed."""
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


@dataclass
class DensityRow:
    """One process hosting ``clients`` clients, each held at its own proxy's CONNECT."""

    clients: int
    uss: float = 0.0
    threads: int = 0
    import_seconds: float = 0.0
    reached: int = 0
    connect_seconds: float | None = None
    connects: list[int] = field(default_factory=list)
    targets: set[str] = field(default_factory=set)
    refusal_seconds: float | None = None


async def density_row(clients: int, executor_threads: int, settle: float, data: Path) -> DensityRow:
    """Start ``clients`` clients in one host, measure it settled, then time one refused connect beside them."""
    row = DensityRow(clients)
    held, refusing = [RecordingProxy() for _ in range(clients)], RecordingProxy(hold=False)
    for proxy in [*held, refusing]:
        await proxy.start()
    host = await ClientHost.start(data / f"density_{clients}", executor_threads)
    try:
        row.import_seconds = await host.ready()
        await measure_clients(row, host, held, settle)
        host.connect("refused", refusing)
        row.refusal_seconds = await host.failure("refused")
    finally:
        await host.kill()
        for proxy in [*held, refusing]:
            await proxy.close()
    return row


async def measure_clients(row: DensityRow, host: ClientHost, held: list[RecordingProxy], settle: float) -> None:
    """Connect a client through each held proxy, wait for their CONNECTs, settle, sample."""
    sent = time.monotonic()
    for n, proxy in enumerate(held):
        host.connect(f"client_{n}", proxy)
    if await poll(lambda: all(proxy.first_connect for proxy in held), REACH_TIMEOUT):
        row.connect_seconds = max((proxy.first_connect or sent for proxy in held), default=sent) - sent
    await asyncio.sleep(settle)
    row.uss, row.threads = host.sample()
    row.reached = sum(1 for proxy in held if proxy.first_connect is not None)
    row.connects = [proxy.connects for proxy in held]
    row.targets = {proxy.target for proxy in held if proxy.target}


def density_report(rows: list[DensityRow], executor: str) -> None:
    print()
    print("density: neonize clients in ONE process, each with its own auth database and its own proxy (held at")
    print("CONNECT); a further client through a refusing proxy shows whether the held ones delay its connect;")
    print(f"the process's default executor has {executor} threads")
    print(
        f"{'clients':>7} {'threads':>7} {'USS MiB':>8} {'USS/session':>11} {'marginal':>8} {'import s':>8}"
        f" {'reached':>7} {'connect->all s':>14} {'CONNECTs/proxy':>14} {'refused in ms':>13}"
    )
    single = next((row.uss for row in rows if row.clients == 1), None)
    for row in rows:
        print(density_line(row, single))
    print("marginal: (USS - USS at 1 client) / (clients - 1); connect->all: from the first connect command")
    print(f"CONNECT targets the held clients asked for: {', '.join(sorted(set().union(*(r.targets for r in rows))))}")
    print(density_verdict(rows, single))


def marginal(row: DensityRow, single: float | None) -> float | None:
    """USS per client beyond the first (``single``: USS with 1 client)."""
    return (row.uss - single) / (row.clients - 1) if single is not None and row.clients > 1 else None


def density_line(row: DensityRow, single: float | None) -> str:
    per_session = f"{row.uss / row.clients:.1f}" if row.clients else "-"
    extra = marginal(row, single)
    beyond = f"{extra:.2f}" if extra is not None else "-"
    reach = f"{row.connect_seconds:.3f}" if row.connect_seconds is not None else "-"
    counts = f"{min(row.connects)}-{max(row.connects)}" if row.connects else "-"
    refusal = f"{row.refusal_seconds * 1000:.1f}" if row.refusal_seconds is not None else "none"
    return (
        f"{row.clients:>7} {row.threads:>7} {row.uss:>8.1f} {per_session:>11} {beyond:>8} {row.import_seconds:>8.2f}"
        f" {f'{row.reached}/{row.clients}':>7} {reach:>14} {counts:>14} {refusal:>13}"
    )


def density_verdict(rows: list[DensityRow], single: float | None) -> str:
    target = next((row for row in rows if row.clients == TARGET_CLIENTS), None)
    extra = marginal(target, single) if target is not None else None
    if extra is None:
        return f"target (<= {TARGET_MIB:g} MiB per additional session at {TARGET_CLIENTS}): not measured"
    verdict = "met" if extra <= TARGET_MIB else "NOT met"
    return (
        f"target <= {TARGET_MIB:g} MiB private per additional session at {TARGET_CLIENTS} clients: {verdict}"
        f" ({extra:.2f} MiB), against {PER_PROCESS_TODAY}"
    )


async def density_table(counts: list[int], executor_threads: int | None, settle: float) -> None:
    with tempfile.TemporaryDirectory() as data:
        rows = []
        for clients in counts:
            threads = executor_threads or clients + SPARE_THREADS
            rows.append(await density_row(clients, threads, settle, Path(data)))
    density_report(rows, str(executor_threads) if executor_threads else f"clients + {SPARE_THREADS}")


# -- density: many sim sessions in one worker host ---------------------------------------------------------


def hosted_spec(worker: Worker, webhook: Webhook, sim: SimServer, data: Path) -> WorkerSpec:
    """What the hosted runner gets to start ``worker``'s session in a worker host."""
    environment = worker_environment(worker, webhook, sim, data)
    return WorkerSpec(worker.session_id, environment, data / worker.session_id, data / f"{worker.session_id}.log")


async def sim_density_row(sessions: int, webhook: Webhook, sim: SimServer, settle: float, data: Path) -> DensityRow:
    """``sessions`` sim sessions placed by the hosted runner with ``SESSIONS_PER_WORKER`` = ``sessions`` (so all
    in one ``waorch worker-host``), each through its own proxy; the host's USS and threads once all show a QR."""
    settings = load_settings(sim_environment(str(data), sim.url, SESSIONS_PER_WORKER=str(sessions)))
    runner, row, refs = HostedRunner(settings), DensityRow(sessions), []
    workers = [Worker("sim", f"worker_{sessions * 1000 + n}", RecordingProxy()) for n in range(sessions)]
    try:
        started = time.monotonic()
        for worker in workers:
            await worker.proxy.start()
            refs.append(await runner.start(hosted_spec(worker, webhook, sim, data)))
        await wait_idle(workers, webhook)
        row.connect_seconds = time.monotonic() - started
        await asyncio.sleep(settle)
        row.uss, row.threads = host_sample(refs)
    finally:
        for host in {hosted.process for hosted in map(HostedRef.parse, refs) if hosted is not None}:
            await runner.processes.stop(host, 10.0)  # SIGTERM: the host stops its sessions and ends
        await runner.close()
        for worker in workers:
            await worker.proxy.close()
    return row


def host_sample(refs: list[str]) -> tuple[float, int]:
    """USS (MiB) and OS threads of the one worker host every ref names."""
    [host] = {hosted.process for hosted in map(HostedRef.parse, refs) if hosted is not None}
    process = psutil.Process(worker_pid(host))
    return process.memory_full_info().uss / 2**20, process.num_threads()


def sim_density_report(rows: list[DensityRow]) -> None:
    print()
    print("density: sim sessions in ONE worker host (`waorch worker-host`, placed by the hosted runner), each")
    print("with its own proxy and auth dir, measured once every session shows its QR")
    print(f"{'sessions':>8} {'threads':>7} {'USS MiB':>8} {'USS/session':>11} {'marginal':>8} {'start->all QR s':>15}")
    single = next((row.uss for row in rows if row.clients == 1), None)
    for row in rows:
        extra = marginal(row, single)
        beyond = f"{extra:.2f}" if extra is not None else "-"
        shown = f"{row.connect_seconds:.2f}" if row.connect_seconds is not None else "-"
        print(
            f"{row.clients:>8} {row.threads:>7} {row.uss:>8.1f} {row.uss / row.clients:>11.1f} {beyond:>8} {shown:>15}"
        )
    print("marginal: (USS - USS at 1 session) / (sessions - 1); start->all QR: from the first session's start")
    print(f"against {SIM_PER_PROCESS}")


async def sim_density_table(counts: list[int], settle: float) -> None:
    sim, webhook = SimServer(SimOptions()), Webhook()
    await sim.start()
    await webhook.start()
    try:
        with tempfile.TemporaryDirectory() as data:
            rows = [await sim_density_row(n, webhook, sim, settle, Path(data) / f"hosted_{n}") for n in counts]
    finally:
        await webhook.close()
        await sim.stop()
    sim_density_report(rows)


async def main(arguments: argparse.Namespace) -> None:
    if arguments.neonize_workers or arguments.sim_workers:
        await workers_table(arguments.neonize_workers, arguments.sim_workers, arguments.settle)
    if arguments.density:
        await density_table(arguments.density, arguments.executor_threads, arguments.settle)
    if arguments.sim_density:
        await sim_density_table(arguments.sim_density, arguments.settle)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neonize-workers", type=int, default=1, help="neonize workers")
    parser.add_argument("--sim-workers", type=int, default=5, help="sim workers")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds idle before measuring")
    parser.add_argument(
        "--density", type=int, nargs="*", default=[0, 1, 5, 20, 50], help="clients in one process, one row each"
    )
    parser.add_argument(
        "--sim-density", type=int, nargs="*", default=[1, 5, 20, 50], help="sim sessions in one worker host, a row each"
    )
    parser.add_argument(
        "--executor-threads", type=int, help=f"the density host's executor threads (default: clients + {SPARE_THREADS})"
    )
    asyncio.run(main(parser.parse_args()))
