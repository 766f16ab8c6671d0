"""Fleet: N sim sessions in density mode, all connected; CPU and memory at rest; an orchestrator restart.

Real parts: ``waorch sim`` and ``waorch serve`` (the core and its HTTP API alone in a process of their own, so
its CPU is its own, on the embedded Valkey in a temporary data dir), the worker hosts it starts (``waorch
worker-host``, up to ``--per-worker`` sessions each: ``SESSIONS_PER_WORKER``; ``--per-worker 1`` runs a worker
process per session, for comparison), the sim engine, PROVISIONING_INTERVAL_MS=0, loopback only. The sessions
are provisioned through the API and each QR is scanned in the simulator. Prints:

- the time until every session is provisioned, until every QR is shown, until every session is connected;
- CPU at rest (% of one core: user + system time over ``--window`` seconds, from psutil) of the orchestrator
  (the serve process), of Valkey and of all worker processes together (the simulator's beside them);
- the worker processes' private memory (USS) in total and per session, and their PSS (shared pages shared out);
- an orchestrator restart: serve stopped with SIGTERM (its workers keep running; its Valkey stops with it and
  starts again from its append-only file), then started again; the time until its core acts with every
  session connected and no worker start queued (before it acts the core checks every session's worker: adopted
  if it runs, restarted if not), how many worker processes were replaced (pids before and after) and how many
  sessions changed worker ref.

Targets at 500 sessions: orchestrator < 10 % of one core at rest, all connected again < 5 s after the restart
with no worker process replaced, workers' memory < 4 GiB; each is printed as met or not. Everything the run
started (serve, its Valkey, the hosts or workers, the simulator) is stopped at the end, when ``--deadline``
passes and on ctrl+c: every process whose environment names the run's data dir, and the simulator.

    .venv/bin/python benchmarks/fleet.py [--sessions 500] [--per-worker 20] [--window 30] [--settle 5]
        [--deadline 900]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import redis.asyncio as aioredis
from common import api_client, pair_all, sim_environment, simulator, wait_all, worker_pid

from waorch.clock import SystemClock
from waorch.core import keys
from waorch.core.embedded_redis import EmbeddedRedis
from waorch.core.runners.hosted import HostedRef
from waorch.core.sessions import SessionStore

TARGET_SESSIONS = 500
TARGET_CPU_PERCENT = 10.0
TARGET_RECONNECT_S = 5.0
TARGET_MEMORY_MIB = 4096.0
PROVISIONS_AT_ONCE = 16
POLL_S = 0.05
STOP_S = 60.0
END_S = 15.0
SWEEPS = 5


@dataclass
class Run:
    """One run: its data dir, the serve process's variables, the serve process."""

    data: Path
    environment: dict[str, str]
    serve: subprocess.Popen[bytes] | None = None
    finished: bool = False  # measured and serve stopped: what it started may take a moment to end by itself

    @property
    def redis(self) -> EmbeddedRedis:
        """The serve process's embedded Valkey (not started here: its socket and pid file)."""
        return EmbeddedRedis(self.data / "redis")

    def start_serve(self, *, stop_workers: bool) -> float:
        """``waorch serve`` in its own process and session (output appended to ``serve.log``, and a ctrl+c
        reaches only this script, which stops it); when it was started."""
        command = [sys.executable, "-m", "waorch", "serve", *(["--stop-workers"] if stop_workers else [])]
        with (self.data / "serve.log").open("ab") as log:
            self.serve = subprocess.Popen(  # noqa: ASYNC220 (returns at once)
                command,
                env=self.environment,
                cwd=self.data,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        return time.monotonic()

    async def stop_serve(self) -> float:
        """SIGTERM to serve; the seconds until it exited."""
        assert self.serve is not None
        started = time.monotonic()
        self.serve.terminate()
        await asyncio.to_thread(self.serve.wait, STOP_S)
        return time.monotonic() - started

    @contextlib.asynccontextmanager
    async def store(self) -> AsyncIterator[SessionStore]:
        """The sessions as stored in serve's Valkey, read on a client of this process (not named ``waorch``:
        serve stops its Valkey on exit whatever this client does)."""
        client = aioredis.Redis.from_url(self.redis.url, decode_responses=True)
        try:
            yield SessionStore(client, SystemClock())
        finally:
            await client.aclose()

    async def refs(self) -> dict[str, str]:
        """Every session's worker ref."""
        async with self.store() as store:
            return {session.id: session.worker for session in await store.list()}

    async def starts_queued(self) -> int:
        """Worker starts (and restarts) waiting in the start queue."""
        async with self.store() as store:
            return int(await store.redis.zcard(keys.PROVISION_QUEUE))

    def valkey(self) -> psutil.Process:
        """The Valkey server serve started (or adopted)."""
        return psutil.Process(int(self.redis.pid_path.read_text()))

    async def until(self, condition: Callable[[], Awaitable[bool]]) -> None:
        """Poll ``condition`` until it holds (``RuntimeError`` if serve exits first)."""
        while not await condition():
            if self.serve is None or self.serve.poll() is not None:
                log = (self.data / "serve.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"waorch serve is not running; the end of its output:\n{log}")
            await asyncio.sleep(POLL_S)


def worker_process_pid(ref: str) -> int:
    """The pid of the process a session's worker runs in: its worker host's, or its own."""
    hosted = HostedRef.parse(ref)
    return worker_pid(hosted.process if hosted is not None else ref)


def worker_processes(refs: dict[str, str]) -> list[psutil.Process]:
    """The worker processes (hosts, or a worker each) the sessions' refs name."""
    return [psutil.Process(pid) for pid in sorted({worker_process_pid(ref) for ref in refs.values() if ref})]


# -- provisioning ------------------------------------------------------------------------------------------


async def provision(api: httpx.AsyncClient, sessions: int) -> list[str]:
    """Provision ``sessions`` sessions through the API, ``PROVISIONS_AT_ONCE`` requests at a time; their ids."""
    gate = asyncio.Semaphore(PROVISIONS_AT_ONCE)

    async def one() -> str:
        async with gate:
            answer = await api.post("/api/sessions/provision", json={})
            answer.raise_for_status()
            return str(answer.json()["sessionId"])

    return list(await asyncio.gather(*(one() for _ in range(sessions))))


async def connect_fleet(run: Run, api: httpx.AsyncClient, sim_url: str, sessions: int) -> list[str]:
    """Provision, wait for every QR, scan them all, wait until all are connected, saying how long each took."""
    started = time.monotonic()
    ids = await provision(api, sessions)
    provisioned = time.monotonic() - started
    async with run.store() as store:
        await wait_all(store, ids, "qr_ready", 600)
        shown = time.monotonic() - started
        await pair_all(store, sim_url, ids)
    connected = time.monotonic() - started
    print(
        f"{sessions} sessions provisioned through the API in {provisioned:.1f} s; every QR shown after {shown:.1f} s;"
        f" all connected after {connected:.1f} s (scans one after another)"
    )
    return ids


# -- at rest -----------------------------------------------------------------------------------------------


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """User + system CPU seconds the processes used so far."""
    return sum(sum(process.cpu_times()[:2]) for process in processes)


async def cpu_percent(groups: dict[str, list[psutil.Process]], window: float) -> dict[str, float]:
    """Each group's CPU over the next ``window`` seconds, in % of one core."""
    before = {name: cpu_seconds(processes) for name, processes in groups.items()}
    started = time.monotonic()
    await asyncio.sleep(window)
    wall = time.monotonic() - started
    return {name: (cpu_seconds(processes) - before[name]) / wall * 100 for name, processes in groups.items()}


def memory_mib(processes: list[psutil.Process]) -> tuple[float, float]:
    """Total private memory (USS) and proportional set size (PSS) of the processes, in MiB."""
    infos = [process.memory_full_info() for process in processes]
    return sum(info.uss for info in infos) / 2**20, sum(info.pss for info in infos) / 2**20


@dataclass(frozen=True)
class AtRest:
    """CPU (% of one core) and the workers' memory (MiB) of the connected fleet."""

    cpu: dict[str, float]
    uss: float
    pss: float


async def at_rest(run: Run, refs: dict[str, str], sim: psutil.Process, window: float) -> AtRest:
    workers = worker_processes(refs)
    assert run.serve is not None
    groups = {"orchestrator": [psutil.Process(run.serve.pid)], "Valkey": [run.valkey()], "workers": workers}
    cpu = await cpu_percent({**groups, "simulator": [sim]}, window)
    uss, pss = memory_mib(workers)
    loads = Counter(worker_process_pid(ref) for ref in refs.values() if ref).values()
    print(f"worker processes: {len(workers)} ({min(loads)}-{max(loads)} sessions each)")
    print(
        f"at rest over {window:.0f} s: orchestrator {cpu['orchestrator']:.1f} % of one core, Valkey"
        f" {cpu['Valkey']:.1f} %, worker processes together {cpu['workers']:.1f} %"
        f" (the simulator {cpu['simulator']:.1f} %)"
    )
    print(
        f"workers' memory: private (USS) {uss:.0f} MiB in total, {uss / len(refs):.2f} MiB per session;"
        f" PSS {pss:.0f} MiB in total, {pss / len(refs):.2f} MiB per session"
    )
    return AtRest(cpu, uss, pss)


# -- restart -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Restart:
    """An orchestrator restart: seconds until the new serve answered and until all were connected again; worker
    processes before and replaced; sessions whose worker ref changed."""

    answered: float
    connected: float
    processes: int
    replaced: int
    moved: int


async def all_connected_again(run: Run, api: httpx.AsyncClient, sessions: int) -> bool:
    """The core acts, every session is connected, no worker start is queued."""
    try:
        health = (await api.get("/health")).json()
    except httpx.TransportError:
        return False
    connected = health.get("sessions", {}).get("connected") == sessions
    return health.get("core") == "active" and connected and not await run.starts_queued()


async def answering(api: httpx.AsyncClient) -> bool:
    with contextlib.suppress(httpx.TransportError):
        return (await api.get("/health")).status_code == 200
    return False


async def restart(run: Run, api: httpx.AsyncClient, before: dict[str, str]) -> Restart:
    """Stop serve (its workers keep running), start it again (stopping every worker on its own exit)."""
    stopped = await run.stop_serve()
    started = run.start_serve(stop_workers=True)
    await run.until(lambda: answering(api))
    answered = time.monotonic() - started
    await run.until(lambda: all_connected_again(run, api, len(before)))
    connected = time.monotonic() - started
    after = await run.refs()
    pids = {worker_process_pid(ref) for ref in before.values()}
    replaced = len(pids - {worker_process_pid(ref) for ref in after.values() if ref})
    moved = sum(after.get(sid) != ref for sid, ref in before.items())
    print(
        f"restart: serve stopped in {stopped:.2f} s (its workers kept running); the new one answered after"
        f" {answered:.2f} s and acted with all {len(before)} connected and no start queued after {connected:.2f} s"
    )
    print(f"worker processes replaced: {replaced} of {len(pids)}; sessions whose worker ref changed: {moved}")
    return Restart(answered, connected, len(pids), replaced, moved)


# -- verdicts and the end ----------------------------------------------------------------------------------


def verdicts(sessions: int, rest: AtRest, again: Restart) -> None:
    scale = "" if sessions == TARGET_SESSIONS else f" (this run: {sessions} sessions)"
    print(f"targets at {TARGET_SESSIONS} sessions{scale}:")
    cpu, reconnect = rest.cpu["orchestrator"], again.connected
    verdict(f"orchestrator < {TARGET_CPU_PERCENT:g} % of one core at rest", cpu < TARGET_CPU_PERCENT, f"{cpu:.1f} %")
    verdict(
        f"all connected again < {TARGET_RECONNECT_S:g} s after a restart",
        reconnect < TARGET_RECONNECT_S,
        f"{reconnect:.2f} s",
    )
    verdict("no worker process replaced by the restart", not again.replaced, str(again.replaced))
    verdict(
        f"workers' memory < {TARGET_MEMORY_MIB / 1024:g} GiB", rest.uss < TARGET_MEMORY_MIB, f"USS {rest.uss:.0f} MiB"
    )


def verdict(target: str, met: bool, measured: str) -> None:
    print(f"  {target}: {'met' if met else 'NOT met'} ({measured})")


def started_here(data: Path) -> list[psutil.Process]:
    """Every process whose environment names ``data``: serve, its Valkey, the worker hosts or workers."""
    mine = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.pid != os.getpid() and any(names(data, value) for value in process.environ().values()):
                mine.append(process)
    return mine


def names(data: Path, value: str) -> bool:
    """Whether a variable's ``value`` is ``data`` or a path below it."""
    return value == str(data) or value.startswith(f"{data}/")


def end(data: Path, patience: float) -> None:
    """Give what the run started ``patience`` seconds to end by itself (worker hosts end once idle), then stop
    the rest; again while any is left (a serve that is stopping may start one more worker host)."""
    deadline = time.monotonic() + patience
    while (left := started_here(data)) and time.monotonic() < deadline:
        time.sleep(0.5)
    stopped, killed = 0, 0
    for _ in range(SWEEPS):
        if not left:
            break
        stopped, killed = stopped + len(left), killed + stop(left)
        left = started_here(data)
    if stopped:
        print(f"still running at the end, stopped: {stopped} process(es) ({killed} killed)")


def stop(processes: list[psutil.Process]) -> int:
    """SIGTERM, SIGKILL after ``END_S``; how many had to be killed."""
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(processes, timeout=END_S)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=END_S)
    return len(alive)


def simulator_process(sim_url: str) -> psutil.Process:
    """The ``waorch sim`` child of this process listening at ``sim_url``."""
    port = sim_url.rsplit(":", 1)[1]
    return next(child for child in psutil.Process().children() if child.cmdline()[-2:] == ["--port", port])


async def measure(run: Run, sim_url: str, args: argparse.Namespace) -> None:
    sim = simulator_process(sim_url)
    run.start_serve(stop_workers=False)
    async with api_client(f"http://127.0.0.1:{run.environment['ORCH_PORT']}") as api:
        await run.until(lambda: answering(api))
        await connect_fleet(run, api, sim_url, args.sessions)
        await asyncio.sleep(args.settle)
        before = await run.refs()
        rest = await at_rest(run, before, sim, args.window)
        again = await restart(run, api, before)
    await run.stop_serve()
    run.finished = True
    verdicts(args.sessions, rest, again)


async def within(seconds: float, work: Coroutine[Any, Any, None]) -> bool:
    """Run ``work`` for at most ``seconds``: whether it finished (its error is raised). It is cancelled again
    every second until it ends: on Python 3.11, asyncio.wait_for (which redis-py's writes use) can swallow a
    cancellation."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.wait([task], timeout=seconds)
    finally:
        while not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=1.0)
    if task.cancelled():
        return False
    task.result()
    return True


async def main(args: argparse.Namespace) -> None:
    print(
        f"fleet: {args.sessions} sim sessions, up to {args.per_worker} per worker process"
        f" (SESSIONS_PER_WORKER={args.per_worker}), {os.cpu_count()} cores"
    )
    async with contextlib.AsyncExitStack() as stack:
        sim_url = await stack.enter_async_context(simulator())
        data = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fleet-")))
        run = Run(data, sim_environment(str(data), sim_url, SESSIONS_PER_WORKER=str(args.per_worker), HOME=str(data)))
        stack.callback(lambda: end(data, END_S if run.finished else 0.0))
        if not await within(args.deadline, measure(run, sim_url, args)):
            print(f"the deadline ({args.deadline:.0f} s) passed: stopping everything")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=TARGET_SESSIONS)
    parser.add_argument("--per-worker", type=int, default=20, help="SESSIONS_PER_WORKER (1: a process per session)")
    parser.add_argument("--window", type=float, default=30.0, help="seconds of CPU measured at rest")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds between all connected and the window")
    parser.add_argument("--deadline", type=float, default=900.0, help="the whole run stops after this many seconds")
    try:
        asyncio.run(main(parser.parse_args()))
    except KeyboardInterrupt:
        print("interrupted: everything it started is stopped")
