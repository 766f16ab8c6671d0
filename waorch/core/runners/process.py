"""Process runner (the default): each worker its own process, session and process group.

Workers are spawned detached (``posix_spawn`` with ``setsid``): stdin from /dev/null, output
appended to a per-session log file, so nothing they print can reach the control room's screen,
and they outlive the orchestrator. A worker's ref is ``pid:start_time``: after an orchestrator
restart the same ref names the same process (a recycled pid has another start time), so running
workers are re-adopted instead of started twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Collection

import psutil

from waorch.core.runners.base import Liveness, Stray, WorkerSpec
from waorch.errors import RunnerError
from waorch.private_files import private_dir, private_file

POLL_S = 0.05


def _parse(ref: str) -> tuple[int, float] | None:
    pid, _, started = ref.partition(":")
    try:
        return int(pid), float(started)
    except ValueError:
        return None


def _reap(pid: int) -> None:
    """Collect the exit status if ``pid`` is our own exited child (no zombies are left)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _process(ref: str) -> psutil.Process | None:
    """The live process a ref names, or ``None``."""
    parsed = _parse(ref)
    if parsed is None:
        return None
    _reap(parsed[0])
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

    async def start(self, spec: WorkerSpec) -> str:
        """See ``Runner.start``."""
        private_dir(spec.log_path.parent)
        private_file(spec.log_path)  # also a log an older version left 0644
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(spec.log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ]
        try:
            pid = os.posix_spawn(  # noqa: ASYNC221 (spawn returns at once)
                self.command[0], list(self.command), spec.environment, file_actions=actions, setsid=True
            )
            return f"{pid}:{psutil.Process(pid).create_time()}"
        except (OSError, psutil.Error) as error:
            raise RunnerError(f"cannot start worker: {error}", session_id=spec.session_id) from None

    async def stop(self, ref: str, timeout: float = 10.0) -> None:
        """See ``Runner.stop``: SIGTERM to the process group, SIGKILL after ``timeout``."""
        process = _process(ref)
        if process is None:
            return
        self._signal_group(process.pid, signal.SIGTERM)
        if not await self._wait_gone(ref, timeout):
            self._signal_group(process.pid, signal.SIGKILL)
            await self._wait_gone(ref, 5.0)

    @staticmethod
    async def _wait_gone(ref: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while _process(ref) is not None:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(POLL_S)
        return True

    @staticmethod
    def _signal_group(pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)

    async def is_alive(self, ref: str) -> bool:
        """Whether the process ``ref`` names still runs (a recycled pid is another process)."""
        return _process(ref) is not None

    async def survey(self, refs: Collection[str]) -> dict[str, Liveness]:
        """See ``Runner.survey``: each process looked up (a worker of its own never needs to move)."""
        return {ref: Liveness(await self.is_alive(ref)) for ref in refs}

    async def strays(self, known: Collection[str]) -> list[Stray]:
        """See ``Runner.strays``: none are looked for: a worker process is known only by the ref its session
        holds, and a process of a lost ref cannot be told from another program's."""
        return []

    async def close(self) -> None:
        """Nothing to release: workers run detached and are found again by their refs."""
