"""Process runner (the default): each worker its own process and process group.

Workers get stdin from /dev/null and write to a per-session log file, so nothing they print can
reach the control room's screen. A worker's ref is ``pid:start_time``: after an orchestrator
restart the same ref names the same process (a recycled pid has another start time), so running
workers are re-adopted instead of started twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys

import psutil

from waorch.core.runners.base import WorkerSpec
from waorch.errors import RunnerError


def _parse(ref: str) -> tuple[int, float] | None:
    pid, _, started = ref.partition(":")
    try:
        return int(pid), float(started)
    except ValueError:
        return None


def _process(ref: str) -> psutil.Process | None:
    parsed = _parse(ref)
    if parsed is None:
        return None
    try:
        process = psutil.Process(parsed[0])
        alive = process.status() != psutil.STATUS_ZOMBIE
        return process if alive and abs(process.create_time() - parsed[1]) < 0.01 else None
    except psutil.Error:
        return None


class ProcessRunner:
    """Runs ``python -m waorch worker`` per session."""

    def __init__(self, command: tuple[str, ...] = (sys.executable, "-m", "waorch", "worker")) -> None:
        self.command = command
        self._children: dict[int, asyncio.subprocess.Process] = {}

    async def start(self, spec: WorkerSpec) -> str:
        """See ``Runner.start``."""
        spec.log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            with open(spec.log_path, "ab", buffering=0) as log:  # noqa: ASYNC230 (opening a log file is instant)
                os.chmod(spec.log_path, 0o600)
                child = await asyncio.create_subprocess_exec(
                    *self.command, env=spec.environment, stdin=asyncio.subprocess.DEVNULL,
                    stdout=log, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
                )
        except OSError as error:
            raise RunnerError(f"cannot start worker: {error}", session_id=spec.session_id) from None
        self._children[child.pid] = child
        return f"{child.pid}:{psutil.Process(child.pid).create_time()}"

    async def stop(self, ref: str, timeout: float = 10.0) -> None:
        """See ``Runner.stop``: SIGTERM to the process group, SIGKILL after ``timeout``."""
        process = _process(ref)
        if process is None:
            return
        self._signal_group(process.pid, signal.SIGTERM)
        if not await self._wait(process, timeout):
            self._signal_group(process.pid, signal.SIGKILL)
            await self._wait(process, 2.0)
        self._children.pop(process.pid, None)

    async def _wait(self, process: psutil.Process, timeout: float) -> bool:
        """Wait for exit; our own children are reaped by asyncio, adopted ones polled."""
        child = self._children.get(process.pid)
        try:
            if child is not None:
                await asyncio.wait_for(child.wait(), timeout)
            else:
                await asyncio.to_thread(process.wait, timeout)
        except (TimeoutError, psutil.TimeoutExpired):
            return False
        except psutil.Error:
            pass
        return True

    @staticmethod
    def _signal_group(pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)

    async def is_alive(self, ref: str) -> bool:
        """See ``Runner.is_alive``."""
        return _process(ref) is not None

    async def close(self) -> None:
        """Forget the children (workers keep running, detached in their own sessions)."""
        self._children.clear()
