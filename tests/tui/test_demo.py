"""``waorch demo``: the control room on the simulated network, where `x` scans a QR code with a simulated phone."""

from __future__ import annotations

from pathlib import Path

from tui_support import SIZE, text_of, until

from waorch.demo import demo_room, simulation
from waorch.tui.app import ControlRoom
from waorch.tui.detail import DetailScreen
from waorch.tui.qr_view import QRView


def screen_text(app: ControlRoom) -> str:
    """Everything on the screen, as the terminal would show it."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def notices(app: ControlRoom) -> list[str]:
    """Texts of the notifications on screen."""
    return [str(notification.message) for notification in app._notifications]


def qr_shown(app: ControlRoom) -> bool:
    """Whether the detail screen draws a QR code."""
    return (
        isinstance(app.screen, DetailScreen)
        and app.screen.query_one(QRView).display
        and bool(app.screen.query_one(QRView).payload)
    )


async def test_the_demo_fleet_connects_when_x_scans_its_qr_and_says_it_is_simulated(tmp_path: Path) -> None:
    async with simulation(tmp_path / "demo") as world:
        app = demo_room(world)
        async with app.run_test(size=SIZE) as pilot:
            control = await until(pilot, lambda: app.control)
            first, _second = await app.call(world.populate(control, 2))
            await until(pilot, lambda: app.screen.query_one("#sessions").row_count == 2)
            assert "SIMULATION" in screen_text(app).splitlines()[0]
            await pilot.press("enter")
            await until(pilot, lambda: qr_shown(app), timeout=30)
            assert "SIMULATION: press x" in text_of(app, "#qr-notice")
            assert "x Scan" in screen_text(app).splitlines()[-1]
            session = await app.reader.store.get(first)
            assert session.phone == "972500000001"
            assert any(session.proxy == app.reader.pool.id_of(proxy) for proxy in world.settings.proxies)
            await pilot.press("x")
            await until(pilot, lambda: text_of(app, "#qr-notice") == "Status: connected", timeout=30)
            assert not app.screen.query_one(QRView).display
            await pilot.press("x")  # nothing left to scan: a notice, no change
            await until(
                pilot, lambda: any("shows no QR code to scan (status connected)" in text for text in notices(app))
            )
            assert {(t.hours_start, t.hours_end) for t in await app.reader.tiers.all()} == {("00:00", "24:00")}
            queued = await control.send(first, "+972522222222", "hello from the demo")  # goes out at any hour
            for _ in range(300):
                if (await app.reader.messages.get(queued.message_id)).status == "sent":
                    break
                await pilot.pause(0.1)
            assert (await app.reader.messages.get(queued.message_id)).status == "sent"
            await pilot.press("question_mark")
            await until(pilot, lambda: "simulated phone scans" in screen_text(app))
