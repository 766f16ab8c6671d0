"""Helpers for the control room tests."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import zxingcpp
from PIL import Image
from support import API_KEY, free_port
from textual import events
from textual.pilot import Pilot

from waorch.core.sessions import Session
from waorch.tui.app import ControlRoom
from waorch.tui.sessions_table import SessionsTable

SIZE = (150, 50)  # room for the table, and for a QR code beside the detail pane
# Each character holds two modules, top and bottom (True = dark).
MODULES = {"█": (True, True), "▀": (True, False), "▄": (False, True), " ": (False, False)}
PIXELS_PER_MODULE = 6


class StillRoom(ControlRoom):
    """The control room with no core: the tests feed its screens fixed data."""

    CSS_PATH = Path(inspect.getfile(ControlRoom)).with_name(str(ControlRoom.CSS_PATH))

    def on_mount(self, event: events.Mount) -> None:
        """Start nothing (the control room's own handler, which starts the core, does not run)."""
        event.prevent_default()


async def until(pilot: Pilot[Any], check: Callable[[], object], timeout: float = 15.0) -> Any:
    """Let the app run until ``check()`` is truthy (returned); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await pilot.pause(0.05)
    return value


def text_of(app: Any, selector: str) -> str:
    """The rendered text of the active screen's widget ``selector`` ("" until it is mounted)."""
    found = app.screen.query(selector)
    return str(found.first().render()) if found else ""


def notices(app: Any) -> list[str]:
    """Texts of the notifications on screen."""
    return [str(notification.message) for notification in app._notifications]


def screen_text(app: Any) -> str:
    """What the terminal shows of the active screen, line by line."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def rows_of(table: Any) -> list[str]:
    """Each row of a DataTable as one line of its cells' texts."""
    return [" ".join(str(cell) for cell in table.get_row_at(index)) for index in range(table.row_count)]


async def new_session(app: Any, phone: str | None = None, proxy: str | None = None) -> Session:
    """Provision through the room's control (as n does) and read the new session back."""
    session_id = await app.control.provision(phone, proxy)
    return await app.reader.store.get(session_id)


async def provisioned(pilot: Pilot[Any], phone: str | None = None) -> str:
    """Provision through the core and wait for the row; the cursor is put on it."""
    app = pilot.app
    session = await new_session(app, phone=phone)
    table = app.screen.query_one(SessionsTable)
    await until(pilot, lambda: session.id in table.rows)
    table.move_cursor(row=table.get_row_index(session.id))
    return session.id


def decode(lines: list[str]) -> list[str]:
    """Map half blocks back to modules, draw them and decode with zxing-cpp."""
    rows: list[list[bool]] = []
    for line in lines:
        pairs = [MODULES[char] for char in line]
        rows += [[top for top, _ in pairs], [bottom for _, bottom in pairs]]
    size = PIXELS_PER_MODULE
    image = Image.new("L", (len(rows[0]) * size, len(rows) * size), 255)
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                image.paste(0, (x * size, y * size, (x + 1) * size, (y + 1) * size))
    return [result.text for result in zxingcpp.read_barcodes(image)]


class Terminal:
    """``waorch`` (no subcommand) running in a detached 160×50 tmux session."""

    def __init__(self, data_dir: Path, sim_url: str, *args: str, **extra_env: str) -> None:
        """``waorch *args`` (no args: the control room), with ``extra_env`` on top of the test environment."""
        self.server = f"waorch-tui-test-{os.getpid()}-{free_port()}"  # a tmux server of our own
        self.name = "control-room"
        self.port = free_port()
        self.data_dir = data_dir
        env = {
            "DATA_DIR": str(data_dir),
            "ORCH_PORT": str(self.port),
            "API_KEY": API_KEY,
            "WEBHOOK_SECRET": "tui-test-secret-0123456789",
            "WORKER_ENGINE": "sim",
            "SIM_URL": sim_url,
            "PROVISIONING_INTERVAL_MS": "0",
            "LANG": "C.UTF-8",
            "TERM": "xterm-256color",
            **extra_env,
        }
        exports = " ".join(f"{name}={value}" for name, value in env.items())
        waorch = " ".join([sys.executable, "-m", "waorch", *args])
        command = f"cd {data_dir.parent} && env -u COLUMNS -u LINES {exports} {waorch}; echo exited $?; sleep 30"
        self.tmux("new-session", "-d", "-s", self.name, "-x", "160", "-y", "50", command)
        self.tmux("resize-window", "-t", self.name, "-x", "160", "-y", "50")

    def tmux(self, *args: str) -> str:
        """Run a tmux command on our server; its output."""
        return subprocess.run(
            ["tmux", "-L", self.server, "-f", "/dev/null", *args], check=True, capture_output=True, text=True
        ).stdout

    def waorch_process(self) -> psutil.Process:
        """The ``waorch`` process running in the pane."""
        shell = psutil.Process(int(self.tmux("list-panes", "-t", self.name, "-F", "#{pane_pid}").strip()))
        return next(child for child in shell.children() if "waorch" in " ".join(child.cmdline()))

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
