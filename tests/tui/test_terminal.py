"""The real ``waorch`` command in a real terminal (tmux): nothing but Textual writes to it, and its QR scans."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from support import API_KEY, free_port
from tui_support import MODULES, decode

from waorch.sim.server import SimServer

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Terminal:
    """``waorch`` (no subcommand) running in a detached 160×50 tmux session."""

    def __init__(self, data_dir: Path, sim_url: str) -> None:
        self.server = f"waorch-tui-test-{os.getpid()}-{free_port()}"  # a tmux server of our own
        self.name = "control-room"
        self.port = free_port()
        self.data_dir = data_dir
        env = {"DATA_DIR": str(data_dir), "ORCH_PORT": str(self.port), "API_KEY": API_KEY,
               "WEBHOOK_SECRET": "tui-test-secret-0123456789", "WORKER_ENGINE": "sim", "SIM_URL": sim_url,
               "PROVISIONING_INTERVAL_MS": "0", "LANG": "C.UTF-8", "TERM": "xterm-256color"}
        exports = " ".join(f"{name}={value}" for name, value in env.items())
        command = f"cd {data_dir.parent} && env -u COLUMNS -u LINES {exports} {sys.executable} -m waorch; echo exited $?; sleep 30"
        self.tmux("new-session", "-d", "-s", self.name, "-x", "160", "-y", "50", command)
        self.tmux("resize-window", "-t", self.name, "-x", "160", "-y", "50")

    def tmux(self, *args: str) -> str:
        """Run a tmux command on our server; its output."""
        return subprocess.run(["tmux", "-L", self.server, "-f", "/dev/null", *args], check=True, capture_output=True,
                              text=True).stdout

    def keys(self, *keys: str) -> None:
        """Type keys (tmux names: Enter, C-q, ...)."""
        self.tmux("send-keys", "-t", self.name, *keys)

    def screen(self) -> list[str]:
        """The pane's text, one string per line."""
        return self.tmux("capture-pane", "-p", "-t", self.name).splitlines()

    async def wait_for(self, text: str, timeout: float = 20.0) -> list[str]:
        """The screen, once ``text`` is on it."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.screen()
            if any(text in line for line in lines):
                return lines
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on screen:\n" + "\n".join(lines))
            await asyncio.sleep(0.1)

    def close(self) -> None:
        """Kill the session, the workers and the embedded Redis left behind."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self.tmux("kill-server")
        for process in psutil.process_iter(["environ"]):
            with contextlib.suppress(psutil.Error):
                if (process.info["environ"] or {}).get("AUTH_DIR", "").startswith(str(self.data_dir)):
                    process.kill()
        with contextlib.suppress(OSError, ValueError, psutil.Error):
            psutil.Process(int((self.data_dir / "redis" / "redis.pid").read_text())).kill()


@pytest.fixture
def terminal(tmp_path: Path, sim: SimServer) -> Iterator[Terminal]:
    """The control room in tmux, on its own embedded Redis, against the simulator."""
    data = tmp_path / "data"
    data.mkdir()
    term = Terminal(data, sim.url)
    yield term
    term.close()


def qr_lines(screen: list[str]) -> list[str]:
    """The QR code's lines with their quiet zone (4 modules: 2 lines, 4 columns), cut out of the screen."""
    rows = [n for n, line in enumerate(screen) if any(char in line for char in "█▀▄")]
    first, last = rows[0], rows[-1]
    columns = [col for n in rows for col, char in enumerate(screen[n]) if char in "█▀▄"]
    left, right = min(columns) - 4, max(columns) + 5
    return [screen[n].ljust(right)[left:right] for n in range(first - 2, last + 3)]


async def test_bare_waorch_draws_only_textual_and_a_qr_that_scans(terminal: Terminal) -> None:
    await terminal.wait_for("0 sessions")
    terminal.keys("n")
    await terminal.wait_for("Provision a session")
    terminal.keys("Enter")
    screen = await terminal.wait_for("Expires in")
    assert not any("INFO" in line or "waorch:" in line or "Traceback" in line for line in screen)
    lines = qr_lines(screen)
    assert set("".join(lines)) <= set(MODULES)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{terminal.port}", trust_env=False) as api:
        body = (await api.get("/api/sessions/worker_1", headers={"X-API-Key": API_KEY})).json()
        assert decode(lines) == [body["qr"]]
        terminal.keys("C-q")
        assert "exited 0" in await terminal.wait_for("exited", timeout=15)
        assert not await alive(api)
    assert "control room: serving" in (terminal.data_dir / "waorch.log").read_text()


async def alive(api: httpx.AsyncClient) -> bool:
    """Whether the control room's HTTP server still answers."""
    try:
        await api.get("/health", timeout=0.5)
    except httpx.HTTPError:
        return False
    return True
