"""Shared fixtures: real SOCKS5 proxies (microsocks) and free loopback ports."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, timeout: float = 5.0) -> None:
    """Block until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@dataclass
class SocksProxy:
    """A real microsocks SOCKS5 server on loopback that a test can kill and restart."""

    port: int
    user: str | None = None
    password: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """``socks5h://[user:pass@]127.0.0.1:port``."""
        auth = f"{self.user}:{self.password}@" if self.user else ""
        return f"socks5h://{auth}127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or restart) the server and wait until it listens."""
        args = ["microsocks", "-i", "127.0.0.1", "-p", str(self.port)]
        if self.user:
            args += ["-u", self.user, "-P", self.password or ""]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(self.port)

    def kill(self) -> None:
        """Kill the server process (connections through it break)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def socks_proxy() -> Iterator[Callable[..., SocksProxy]]:
    """Factory: ``socks_proxy(user=None, password=None)`` starts a new microsocks server."""
    if shutil.which("microsocks") is None:
        pytest.skip("microsocks is not installed (apt-get install microsocks)")
    started: list[SocksProxy] = []

    def make(user: str | None = None, password: str | None = None) -> SocksProxy:
        proxy = SocksProxy(free_port(), user, password)
        proxy.start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.kill()
