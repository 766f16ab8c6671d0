"""The QR code read back off the rendered screen decodes to exactly what the worker sent."""

from __future__ import annotations

from textual.strip import Strip
from tui_support import MODULES, decode, new_session, text_of, until

from waorch.tui.app import ControlRoom
from waorch.tui.detail import DetailScreen
from waorch.tui.qr_view import QRView


def screen_lines(app: ControlRoom) -> list[str]:
    """The text of every line of the screen as composed for the terminal."""
    strips: list[Strip] = app.screen._compositor.render_strips()
    return [strip.text for strip in strips]


def shown_payload(app: ControlRoom) -> str:
    """The payload the detail screen's QR widget draws ("" while there is none)."""
    views = app.screen.query(QRView) if isinstance(app.screen, DetailScreen) else []
    return views[0].payload if views and views[0].display else ""


def qr_on_screen(app: ControlRoom) -> list[str]:
    """The QR widget's region of the screen."""
    region = app.screen.query_one(QRView).content_region
    return [line[region.x : region.right] for line in screen_lines(app)[region.y : region.bottom]]


async def test_the_qr_on_screen_is_the_workers_payload_and_follows_its_rotation(control_room, sim_factory) -> None:
    sim = await sim_factory(qr_first_ttl=5.0, qr_ttl=5.0, qr_count=6)  # long enough to read it under load
    async with control_room(SIM_URL=sim.url) as pilot:
        app: ControlRoom = pilot.app
        session = await new_session(app)
        app.open_detail(session.id)
        await until(pilot, lambda: shown_payload(app))
        seen = set()
        for _ in range(2):
            stored = (await app.reader.store.get(session.id)).qr
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
        session = await new_session(app)
        app.open_detail(session.id)
        await until(pilot, lambda: "too small" in text_of(app, "#qr-notice"))
        assert "pairing code" in text_of(app, "#qr-notice") and "(80×24)" in text_of(app, "#qr-notice")
        assert not app.screen.query_one(QRView).display
