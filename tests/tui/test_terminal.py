"""The real ``waorch`` command in a real terminal (tmux): nothing but Textual writes to it, and its QR scans."""

from __future__ import annotations

import shutil

import httpx
import pytest
from support import API_KEY
from tui_support import MODULES, Terminal, decode

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


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
