"""Moving between the panes (keys 1-4, palette) at 80×24 and after a resize; help lists the new keys."""

from __future__ import annotations

from textual.widgets import Input
from tui_support import provisioned, screen_text, until

from waorch.tui.app import ControlRoom
from waorch.tui.detail import DetailScreen
from waorch.tui.forms import Form
from waorch.tui.log_screen import LogScreen
from waorch.tui.modals import Help
from waorch.tui.proxies_screen import ProxiesScreen
from waorch.tui.queue_screen import QueueScreen
from waorch.tui.sessions_screen import SessionsScreen
from waorch.tui.tiers_screen import TiersScreen

# What each pane must show at 80×24 (its key, its screen, text on it).
PANES = (
    ("2", ProxiesScreen, "cool-down"),
    ("3", TiersScreen, "per day"),
    ("4", LogScreen, "qr_ready"),
    ("1", SessionsScreen, "worker_1"),
)


async def test_every_pane_fits_80x24_and_survives_resizes(control_room, socks_proxy) -> None:
    proxy = socks_proxy()
    async with control_room(size=(80, 24), PROXY_URL_1=proxy.url) as pilot:
        app: ControlRoom = pilot.app
        await provisioned(pilot)
        for key, screen, text in PANES:
            await pilot.press(key)
            await until(pilot, lambda: isinstance(app.screen, screen) and text in screen_text(app))  # noqa: B023
            lines = screen_text(app).splitlines()
            assert len(lines) == 24 and all(len(line) == 80 for line in lines)
            assert "1234 Panes" in lines[-1]
            await pilot.resize_terminal(150, 50)
            await until(pilot, lambda: len(screen_text(app).splitlines()) == 50 and text in screen_text(app))  # noqa: B023
            await pilot.resize_terminal(80, 24)
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, QueueScreen) and "next send" in screen_text(app))


async def test_each_pane_keeps_its_place_and_1_goes_back_to_the_open_session(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        session_id = await provisioned(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        await pilot.press("2")
        await until(pilot, lambda: isinstance(app.screen, ProxiesScreen))
        await pilot.press("1")
        assert isinstance(app.screen, DetailScreen) and app.screen.session_id == session_id
        await pilot.press("escape")
        assert isinstance(app.screen, SessionsScreen)


async def test_help_lists_the_pane_keys_and_the_new_actions(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        await pilot.press("3", "question_mark")
        help_screen = await until(pilot, lambda: app.screen if isinstance(app.screen, Help) else None)
        keys = [key for key, _ in help_screen.keys]
        for key in ("1 2 3 4", "u", "m", "t", "a", "ctrl+d", "enter, e", "end", "/"):
            assert key in keys


async def test_the_palette_switches_panes_and_runs_pane_actions(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        await pilot.press("ctrl+p", *"Proxies pane")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ProxiesScreen))
        await pilot.press("ctrl+p", *"Add a proxy")
        await pilot.pause(0.5)
        await pilot.press("enter")
        form = await until(pilot, lambda: app.screen if isinstance(app.screen, Form) else None)
        assert form.query_one("#url", Input).password
