"""Hang-ups end cleanly: SIGHUP (an SSH drop, a killed tmux), SIGTERM and SIGINT shut every mode down
the way ctrl+q does, leaving no embedded Redis, and for the demo no workers and no data behind."""

from __future__ import annotations

import asyncio
import shutil
import signal
import tempfile
from pathlib import Path

import psutil
import pytest
from tui_support import Terminal

from waorch.sim.server import SimServer

SIGNALS = [signal.SIGHUP, signal.SIGTERM, signal.SIGINT]
READY = {"tui": "0 sessions", "serve": "serving on", "demo": "SIMULATION"}


@pytest.fixture(autouse=True)
def _tmux() -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (apt-get install tmux; scripts/test.sh does)")


def _left_behind(data: Path, temp: Path, shell: int) -> list[str]:
    """What is still there of a waorch that has ended: processes using its dirs (but tmux and the
    pane's ``shell``, whose command lines name them), a demo's data dir."""
    found = [f"demo data {path}" for path in temp.glob("waorch-demo-*")]
    for process in psutil.process_iter(["cmdline", "environ"]):
        if process.pid == shell or "tmux" in (process.info["cmdline"] or [""])[0]:
            continue
        try:
            seen = " ".join(process.info["cmdline"] or []) + " " + str(process.info["environ"] or "")
        except psutil.Error:
            continue
        if str(data) in seen or str(temp) in seen:
            found.append(f"pid {process.pid}: {' '.join(process.info['cmdline'] or [])[:120]}")
    return found


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["tui", "serve", "demo"])
async def test_each_stop_signal_ends_every_mode_cleanly(tmp_path: Path, sim: SimServer, mode: str) -> None:
    for sig in SIGNALS:
        data = tmp_path / sig.name / "data"
        data.mkdir(parents=True)
        temp = Path(tempfile.mkdtemp(prefix="wsig-"))  # short: the demo's Redis socket path must fit 107 bytes
        args = () if mode == "tui" else (mode,)
        terminal = Terminal(data, sim.url, *args, TMPDIR=str(temp))
        try:
            await terminal.wait_for(READY[mode], timeout=30)
            if mode == "demo":
                await terminal.wait_for("4 sessions: 4 qr_ready", timeout=30)  # its workers, proxies and Redis run
            process = terminal.waorch_process()
            shell = process.ppid()
            process.send_signal(sig)
            screen = await terminal.wait_for("exited", timeout=30)
            assert not any("Traceback" in line for line in screen), "\n".join(screen)
            assert not psutil.pid_exists(process.pid) or process.status() == psutil.STATUS_ZOMBIE
            await asyncio.sleep(0.5)  # what it stopped has had time to exit
            assert _left_behind(data, temp, shell) == [], (mode, sig.name)
        finally:
            terminal.close()
            shutil.rmtree(temp, ignore_errors=True)
