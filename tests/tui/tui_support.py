"""Helpers for the control room tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import zxingcpp
from PIL import Image
from textual.pilot import Pilot

SIZE = (150, 50)  # room for the table, and for a QR code beside the detail pane
# Each character holds two modules, top and bottom (True = dark).
MODULES = {"█": (True, True), "▀": (True, False), "▄": (False, True), " ": (False, False)}
PIXELS_PER_MODULE = 6


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
