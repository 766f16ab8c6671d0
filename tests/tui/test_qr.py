"""The QR code read back off the rendered screen decodes to exactly what the worker sent."""

from __future__ import annotations

import zxingcpp
from PIL import Image
from textual.strip import Strip
from tui_support import text_of, until

from waorch.tui.app import ControlRoom
from waorch.tui.detail import DetailScreen
from waorch.tui.qr_view import QRView

# Each character holds two modules, top and bottom (True = dark).
MODULES = {"█": (True, True), "▀": (True, False), "▄": (False, True), " ": (False, False)}
PIXELS_PER_MODULE = 6


def screen_lines(app: ControlRoom) -> list[str]:
    """The text of every line of the screen as composed for the terminal."""
    strips: list[Strip] = app.screen._compositor.render_strips()
    return [strip.text for strip in strips]


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


def shown_payload(app: ControlRoom) -> str:
    """The payload the detail screen's QR widget draws ("" while there is none)."""
    views = app.screen.query(QRView) if isinstance(app.screen, DetailScreen) else []
    return views[0].payload if views and views[0].display else ""


def qr_on_screen(app: ControlRoom) -> list[str]:
    """The QR widget's region of the screen."""
    region = app.screen.query_one(QRView).content_region
    return [line[region.x:region.right] for line in screen_lines(app)[region.y:region.bottom]]


async def test_the_qr_on_screen_is_the_workers_payload_and_follows_its_rotation(control_room, sim_factory) -> None:
    sim = await sim_factory(qr_first_ttl=2.0, qr_ttl=2.0, qr_count=6)
    async with control_room(SIM_URL=sim.url) as pilot:
        app: ControlRoom = pilot.app
        session = await app.core.provision()
        app.open_detail(session.id)
        await until(pilot, lambda: shown_payload(app))
        seen = set()
        for _ in range(2):
            stored = (await app.core.store.get(session.id)).qr
            await until(pilot, lambda stored=stored: shown_payload(app) == stored)
            await pilot.pause(0.1)
            lines = qr_on_screen(app)
            assert set("".join(lines)) <= set(MODULES)
            assert decode(lines) == [stored]
            assert "Expires in" in text_of(app, "#qr-notice")
            seen.add(stored)
            await until(pilot, lambda stored=stored: shown_payload(app) not in ("", stored))
        assert len(seen) == 2


async def test_a_terminal_too_small_for_the_qr_suggests_the_pairing_code(control_room) -> None:
    async with control_room(size=(80, 24)) as pilot:
        app: ControlRoom = pilot.app
        session = await app.core.provision()
        app.open_detail(session.id)
        await until(pilot, lambda: "too small" in text_of(app, "#qr-notice"))
        assert "pairing code" in text_of(app, "#qr-notice")
        assert not app.screen.query_one(QRView).display
