"""The real Redis servers the tests run on: the embedded Valkey 8.1 and Debian's redis-server 7.0.

Valkey runs with exactly the product's embedded command line. ``redis-server`` 7.0 (no
``WAITAOF``) runs the way a user points ``REDIS_URL`` at it: append-only on with Debian's default
``appendfsync everysec``. Both listen on a unix socket in their own directory (a TCP port on
loopback too where a test asks for one), and can be killed and started again on the same files.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from waorch.core.embedded_redis import EmbeddedRedis

KINDS = ("valkey", "redis7")
REDIS7 = "redis-server"
REDIS7_OPTIONS = {"port": "0", "unixsocketperm": "700", "appendonly": "yes", "save": "", "daemonize": "no"}


def missing(kind: str) -> str | None:
    """Why ``kind`` cannot run here (``None``: it can)."""
    if kind == "redis7" and shutil.which(REDIS7) is None:
        return "Debian's redis-server is not installed (apt-get install redis-server; scripts/test.sh does)"
    return None


@dataclass
class RedisServer:
    """One server process on ``directory`` (its socket, append-only files and log)."""

    kind: str
    directory: Path
    port: int = 0  # 0: unix socket only
    extra: tuple[str, ...] = ()  # more arguments, e.g. ("--requirepass", "...")
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def socket_path(self) -> Path:
        return self.directory / "redis.sock"

    @property
    def url(self) -> str:
        """``unix://`` URL of the socket."""
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def arguments(self) -> list[str]:
        """The command line (the embedded one for Valkey)."""
        base = EmbeddedRedis(self.directory).arguments()
        if self.kind == "redis7":  # a stock server: its own defaults (fsync every second…) but where it listens
            options = {
                **REDIS7_OPTIONS,
                "unixsocket": str(self.socket_path),
                "dir": str(self.directory),
                "logfile": str(self.directory / "redis.log"),
            }
            base = [REDIS7, *itertools.chain.from_iterable((f"--{name}", value) for name, value in options.items())]
        if self.port:
            base[base.index("--port") + 1] = str(self.port)
            base += ["--bind", "127.0.0.1"]
        return base + list(self.extra)

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start the server (again, on the same files) and wait until it answers."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        self.process = subprocess.Popen(
            self.arguments(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind} did not start; see {self.directory / 'redis.log'}")
            time.sleep(0.02)
        return self

    def _answers(self) -> bool:
        client = redis.Redis(unix_socket_path=str(self.socket_path))
        try:
            return bool(client.ping())
        except redis.AuthenticationError:
            return True  # it answers; it wants a password
        except (redis.ConnectionError, redis.BusyLoadingError, OSError):
            return False
        finally:
            client.close()

    def kill(self) -> None:
        """``kill -9``."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM (the server flushes its files), then wait."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
