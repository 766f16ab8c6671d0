"""The process runner: own process group, no terminal, log file, stop, re-adoption by ref."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import psutil

from waorch.core.runners.base import WorkerSpec
from waorch.core.runners.process import ProcessRunner

SCRIPT = (
    "import os, sys, time; print('hello from', os.getpid(), flush=True); "
    "print(sys.stdin.read() == '', flush=True); time.sleep(60)"
)


def spec(tmp_path: Path) -> WorkerSpec:
    return WorkerSpec("worker_1", {"PATH": os.environ["PATH"]}, tmp_path / "auth", tmp_path / "logs" / "worker_1.log")


async def wait_for_log(tmp_path: Path, text: str) -> None:
    for _ in range(500):
        if text in (tmp_path / "logs" / "worker_1.log").read_text():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{text!r} never logged")


async def test_start_stop_and_adopt(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir(mode=0o755)
    (tmp_path / "logs" / "worker_1.log").touch()
    os.chmod(tmp_path / "logs" / "worker_1.log", 0o644)  # as an older version left it
    runner = ProcessRunner((sys.executable, "-c", SCRIPT))
    ref = await runner.start(spec(tmp_path))
    pid = int(ref.split(":")[0])
    await wait_for_log(tmp_path, "True")
    assert await runner.is_alive(ref)
    assert os.getpgid(pid) == pid and os.getsid(pid) == pid  # own session and process group
    await runner.close()
    adopted = ProcessRunner((sys.executable, "-c", SCRIPT))  # an orchestrator restart
    assert await adopted.is_alive(ref)
    assert not await adopted.is_alive(f"{pid}:{float(ref.split(':')[1]) + 5}")  # pid reused by another process
    await adopted.stop(ref, timeout=5)
    assert not await adopted.is_alive(ref)
    log = (tmp_path / "logs" / "worker_1.log").read_text().splitlines()
    assert log == [f"hello from {pid}", "True"]  # output in the log; stdin is /dev/null
    assert (tmp_path / "logs" / "worker_1.log").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "logs").stat().st_mode & 0o777 == 0o700


async def test_stop_escalates_to_kill(tmp_path: Path) -> None:
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    )
    runner = ProcessRunner((sys.executable, "-c", stubborn))
    ref = await runner.start(spec(tmp_path))
    await wait_for_log(tmp_path, "up")
    await runner.stop(ref, timeout=0.5)
    pid = int(ref.split(":")[0])
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    await runner.close()


async def test_garbage_ref_is_not_alive() -> None:
    runner = ProcessRunner()
    assert not await runner.is_alive("nonsense")
    await runner.stop("12:34")
    await runner.close()
