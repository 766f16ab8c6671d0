"""Helpers for the control room tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

SIZE = (150, 50)  # room for the table, and for a QR code beside the detail pane


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
