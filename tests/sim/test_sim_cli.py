"""``waorch sim --port N`` serves the simulator on loopback until stopped."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
from support import free_port, wait_listening


def test_sim_command_serves_on_the_port() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "waorch", "sim", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_listening(port, timeout=10)
        assert httpx.get(f"http://127.0.0.1:{port}/sim/health", trust_env=False).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert f"http://127.0.0.1:{port}" in output
