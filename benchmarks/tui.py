"""Control room at 500 sessions: frame time, key press → screen change, CPU of the idle TUI.

Real parts: the embedded Valkey (own process), the core and the real control room (``ControlRoom``,
Textual) in this process, run headless by ``App.run_test`` at 200×60. The 500 session records are
written straight into Redis (the session hashes and the sessions index) instead of starting 500
workers; each names a stand-in worker (one ``sleep`` process) so the core's watchdog sees live
workers and starts none. Twice a second, ``--changes`` sessions get a new ``last_ping`` and every
third of them flips between ``connected`` and ``disconnected``, through the core's ``SessionStore``
(as worker events would). Nothing leaves this machine (the core's HTTP API listens on loopback).

How each figure is taken:
- frame time: wall time of each ``Screen._on_timer_update`` that produced a frame (layout, widget
  updates, compositor render, and, as headless Textual writes nothing, the terminal byte stream is
  still produced: ``render_segments`` runs on every update, its output discarded);
- the sessions refresh: wall time of ``collect`` (the Redis reads, off the UI path but in the same
  loop) and of ``SessionsScreen.redraw`` (the table diff, on the UI path), per refresh;
- key → screen: from posting the key event to the end of the first frame whose content shows the
  change (the cursor one row down; the filter line open; the table filtered; the filter cleared),
  read by the frame hook from the widgets' state at that frame;
- CPU: this process's CPU time (user + system) over ``--idle`` seconds without keys, with the
  changes running and stopped; the Valkey process's CPU is printed beside it.

    .venv/bin/python benchmarks/tui.py [--sessions 500] [--changes 50] [--keys 40] [--idle 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from common import free_port, percentile
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input

from waorch.config import Settings, load_settings
from waorch.core import keys
from waorch.core.core import Core
from waorch.core.embedded_redis import EmbeddedRedis
from waorch.core.reader import CoreReader
from waorch.core.redis_server import redis_client
from waorch.tui import sessions_screen
from waorch.tui.app import ControlRoom
from waorch.tui.sessions_screen import SessionsScreen
from waorch.tui.sessions_table import SessionsTable

SIZE = (200, 60)
TARGET_MS = 100.0
STATUSES = ("connected", "connected", "connected", "qr_ready", "disconnected", "failed", "stopped", "logged_out")


@dataclass
class Frame:
    """One frame: when it ended, how long it took, and what the sessions screen showed."""

    end: float
    took: float
    cursor: int
    rows: int
    filter_open: bool


@dataclass
class Recorder:
    """Frames and sessions refreshes, recorded by hooks on Textual and on the sessions screen."""

    frames: list[Frame] = field(default_factory=list)
    collects: list[float] = field(default_factory=list)
    redraws: list[float] = field(default_factory=list)

    def hook(self, app: App[Any]) -> None:
        """Time frames, collects and redraws (class-level wrappers; this process runs one app)."""
        update, display = Screen._on_timer_update, App._display

        def timed_update(screen: Screen[Any]) -> None:
            start = time.perf_counter()
            before = len(self.frames)
            update(screen)
            if len(self.frames) > before:
                self.frames[-1].took = time.perf_counter() - start

        def encoding_display(this: App[Any], screen: Screen[Any], renderable: Any) -> None:
            display(this, screen, renderable)
            if renderable is not None and this.is_headless and hasattr(renderable, "render_segments"):
                renderable.render_segments(this.console)  # the bytes a terminal would get
            if isinstance(screen, SessionsScreen):
                table, line = screen.query_one(SessionsTable), screen.query_one("#filter", Input)
                self.frames.append(Frame(time.perf_counter(), 0.0, table.cursor_row, table.row_count, line.display))

        Screen._on_timer_update = timed_update  # type: ignore[method-assign]
        App._display = encoding_display  # type: ignore[method-assign]
        self._time_refresh()

    def _time_refresh(self) -> None:
        collect, redraw = sessions_screen.collect, SessionsScreen.redraw

        async def timed_collect(reader: CoreReader) -> Any:
            start = time.perf_counter()
            rows = await collect(reader)
            self.collects.append(time.perf_counter() - start)
            return rows

        def timed_redraw(screen: SessionsScreen) -> None:
            start = time.perf_counter()
            redraw(screen)
            self.redraws.append(time.perf_counter() - start)

        sessions_screen.collect = timed_collect  # type: ignore[assignment]
        SessionsScreen.redraw = timed_redraw  # type: ignore[method-assign]

    async def shown(self, since: float, check: Callable[[Frame], bool], timeout: float = 5.0) -> float:
        """Seconds from ``since`` to the end of the first frame after it that passes ``check``."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            for frame in self.frames:
                if frame.end >= since and check(frame):
                    return frame.end - since
            await asyncio.sleep(0.001)
        raise TimeoutError("the change never reached the screen")


def fleet_settings(data_dir: Path, redis_url: str) -> Settings:
    """A core on the benchmark's Redis whose watchdog and proxy monitor stay out of the way."""
    return load_settings(
        {
            "DATA_DIR": str(data_dir),
            "REDIS_URL": redis_url,
            "ORCH_PORT": str(free_port()),
            "API_KEY": "benchmark-api-key-0123456789",
            "WEBHOOK_SECRET": "benchmark-webhook-secret-0123",
            "WORKER_ENGINE": "sim",
            "SIM_URL": "http://127.0.0.1:9",
            "WATCHDOG_INTERVAL_MS": str(2**31 - 1),
            "PING_TIMEOUT_MS": str(2**31 - 1),
            "MONITOR_INTERVAL_MS": str(2**31 - 1),
        }
    )


async def write_sessions(core: Core, count: int, worker_ref: str) -> list[str]:
    """``count`` session records in mixed statuses, each naming the stand-in worker; their ids."""
    now, ids = time.time(), [f"worker_{n}" for n in range(1, count + 1)]
    async with core.redis.pipeline(transaction=False) as pipe:
        for n, sid in enumerate(ids):
            pipe.hset(
                keys.session(sid),
                mapping={
                    "id": sid,
                    "status": STATUSES[n % len(STATUSES)],
                    "phone": f"97250{n:07d}",
                    "created": now - 86400,
                    "first_connected": now - 86400 * (n % 20),
                    "last_ping": now - n % 30,
                    "worker": worker_ref,
                },
            )
            pipe.zadd(keys.SESSIONS, {sid: n})
        await pipe.execute()
    return ids


async def churn(core: Core, ids: list[str], per_tick: int, running: asyncio.Event) -> None:
    """Twice a second (while ``running``), ``per_tick`` sessions ping, every third flips its status."""
    pool = itertools.cycle(ids)
    for tick in itertools.count():
        await running.wait()
        for n in range(per_tick):
            sid, values = next(pool), {"last_ping": time.time()}
            if n % 3 == 0:
                values["status"] = "connected" if tick % 2 else "disconnected"
            await core.store.update(sid, **values)
        await asyncio.sleep(0.5)


@contextlib.contextmanager
def stand_in_worker() -> Iterator[str]:
    """A ``sleep`` process standing in for the 500 workers; its runner ref."""
    process = subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL)
    try:
        yield f"{process.pid}:{psutil.Process(process.pid).create_time()}"
    finally:
        process.kill()
        process.wait()


async def press_and_time(pilot: Pilot[Any], recorder: Recorder, key: str, check: Callable[[Frame], bool]) -> float:
    """Press ``key``; milliseconds until a frame shows what ``check`` looks for."""
    start = time.perf_counter()
    press = asyncio.create_task(pilot.press(key))
    took = await recorder.shown(start, check)
    await press
    return took * 1000


async def key_latencies(pilot: Pilot[Any], recorder: Recorder, downs: int, total: int) -> dict[str, list[float]]:
    """Cursor down ``downs`` times, then open the filter, type, clear it (a few times)."""
    table = pilot.app.screen.query_one(SessionsTable)
    table.focus()
    found: dict[str, list[float]] = {
        "down": [],
        "/ (filter line)": [],
        "type q (500 → filtered)": [],
        "escape (filter cleared)": [],
    }
    for _ in range(downs):
        row = table.cursor_row
        found["down"].append(await press_and_time(pilot, recorder, "down", lambda f, row=row: f.cursor == row + 1))
        await asyncio.sleep(0.2)
    for _ in range(max(1, downs // 4)):
        found["/ (filter line)"].append(await press_and_time(pilot, recorder, "slash", lambda f: f.filter_open))
        await asyncio.sleep(0.2)
        found["type q (500 → filtered)"].append(await press_and_time(pilot, recorder, "q", lambda f: f.rows < total))
        await asyncio.sleep(0.2)
        found["escape (filter cleared)"].append(
            await press_and_time(pilot, recorder, "escape", lambda f: f.rows == total and not f.filter_open)
        )
        await asyncio.sleep(0.2)
    return found


async def idle_cpu(seconds: float, redis_pid: int) -> tuple[float, float]:
    """CPU share (% of one core) of this process and of Valkey over ``seconds`` without keys."""
    me, valkey = psutil.Process(), psutil.Process(redis_pid)
    mine, theirs, wall = sum(me.cpu_times()[:2]), sum(valkey.cpu_times()[:2]), time.monotonic()
    await asyncio.sleep(seconds)
    wall = time.monotonic() - wall
    return (sum(me.cpu_times()[:2]) - mine) / wall * 100, (sum(valkey.cpu_times()[:2]) - theirs) / wall * 100


def describe(name: str, values: list[float]) -> str:
    """``name: n, p50, p95, max`` in milliseconds."""
    return (
        f"{name:<28} n={len(values):<5} p50 {statistics.median(values):6.1f} ms  p95 {percentile(values, 95):6.1f} ms  "
        f"max {max(values):6.1f} ms"
    )


async def run(count: int, per_tick: int, downs: int, idle: float) -> None:
    with tempfile.TemporaryDirectory(prefix="waorch-tui-bench-") as data:
        redis = EmbeddedRedis(Path(data) / "redis")
        await redis.start()
        try:
            await measure(Path(data), redis, count, per_tick, downs, idle)
        finally:
            await redis.stop()


async def measure(data: Path, redis: EmbeddedRedis, count: int, per_tick: int, downs: int, idle: float) -> None:
    settings = fleet_settings(data, redis.url)
    client = redis_client(redis.url)
    writer = Core(settings, client)  # never started: its stores write the fleet
    recorder = Recorder()
    with stand_in_worker() as ref:
        ids = await write_sessions(writer, count, ref)
        app = ControlRoom(settings)
        recorder.hook(app)
        running = asyncio.Event()
        changes = asyncio.create_task(churn(writer, ids, per_tick, running))
        try:
            async with app.run_test(size=SIZE) as pilot:
                await wait_rows(pilot, count)
                running.set()
                await asyncio.sleep(3)
                for samples in (recorder.frames, recorder.collects, recorder.redraws):
                    samples.clear()
                latencies = await key_latencies(pilot, recorder, downs, count)
                busy_cpu = await idle_cpu(idle, int(redis.pid_path.read_text()))
                frames = [frame.took * 1000 for frame in recorder.frames if frame.took]
                collects, redraws = [s * 1000 for s in recorder.collects], [s * 1000 for s in recorder.redraws]
                running.clear()
                await asyncio.sleep(1)
                still_cpu = await idle_cpu(idle, int(redis.pid_path.read_text()))
        finally:
            changes.cancel()
            await asyncio.gather(changes, return_exceptions=True)
            await writer.stop()
            await client.aclose(close_connection_pool=True)
    report(count, per_tick, frames, collects, redraws, latencies, busy_cpu, still_cpu, idle)


async def wait_rows(pilot: Pilot[Any], count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while pilot.app.screen.query_one(SessionsTable).row_count < count:
        if time.monotonic() > deadline:
            raise TimeoutError("the sessions never filled the table")
        await asyncio.sleep(0.05)


def report(
    count: int,
    per_tick: int,
    frames: list[float],
    collects: list[float],
    redraws: list[float],
    latencies: dict[str, list[float]],
    busy: tuple[float, float],
    still: tuple[float, float],
    idle: float,
) -> None:
    print(
        f"{count} sessions, {per_tick} changed twice a second, {SIZE[0]}x{SIZE[1]} headless "
        "(bytes encoded, not written)"
    )
    print(describe("frame time", frames))
    print(describe("sessions refresh: collect", collects))
    print(describe("sessions refresh: redraw", redraws))
    for name, values in latencies.items():
        print(describe(f"key → screen: {name}", values))
    every = [value for values in latencies.values() for value in values]
    verdict = "met" if percentile(every, 95) < TARGET_MS else "MISSED"
    print(f"key → screen, all keys: p95 {percentile(every, 95):.1f} ms (target < {TARGET_MS:.0f} ms: {verdict})")
    print(
        f"idle TUI process CPU over {idle:.0f} s: {busy[0]:.1f}% of one core with changes, {still[0]:.1f}% without "
        f"(Valkey: {busy[1]:.1f}% / {still[1]:.1f}%)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=500, help="sessions in the table")
    parser.add_argument("--changes", type=int, default=50, help="sessions changed every half second")
    parser.add_argument("--keys", type=int, default=40, help="cursor-down presses (filter rounds: a quarter of it)")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of each idle CPU sample")
    arguments = parser.parse_args()
    asyncio.run(run(arguments.sessions, arguments.changes, arguments.keys, arguments.idle))
