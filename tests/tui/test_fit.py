"""What the control room shows fits: every footer and every form label whole at 80 and 120
columns, and notices never cover the key help."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Label
from tui_support import StillRoom, provisioned, screen_text, until

from waorch.config import Settings
from waorch.core.sessions import Session
from waorch.tui.app import ControlRoom, Scanner
from waorch.tui.bindings import KEYS
from waorch.tui.detail import DetailScreen
from waorch.tui.forms import Form
from waorch.tui.modals import Help
from waorch.tui.queue_screen import QueueScreen

WIDTHS = (80, 120)


def footer_items(screen: Screen[Any]) -> set[str]:
    """What the screen's footer must show: each shown binding's description (a group: its name)."""
    items = set()
    for active in screen.active_bindings.values():
        binding = active.binding
        if binding.show and active.enabled:
            items.add(binding.group.description if binding.group else binding.description)
    return items


async def footer_of(app: ControlRoom, pilot: Pilot[Any], screen: Screen[Any] | None = None) -> tuple[str, set[str]]:
    """Open ``screen`` (else the current one, live feed stopped): its last line and its footer items."""
    if screen is not None:
        await app.push_screen(screen)
    app.workers.cancel_node(app.screen)
    await pilot.pause()
    line = await until(pilot, lambda: screen_text(app).splitlines()[-1].strip(), timeout=5)  # drawn (a busy machine)
    return line, footer_items(app.screen)


async def _no_scan(session: Session) -> str:
    return ""


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("demo", [False, True], ids=["room", "demo"])
async def test_every_footer_shows_all_its_keys(make_settings: Callable[..., Settings], width: int, demo: bool) -> None:
    app = StillRoom(make_settings())
    app.scanner = Scanner(_no_scan, "", "") if demo else None  # a scanner (the demo's) adds x Scan
    async with app.run_test(size=(width, 24)) as pilot:
        shown: list[tuple[str, str, set[str]]] = []
        for key in ("2", "3", "4", "1"):
            await pilot.press(key)
            shown.append((type(app.screen).__name__, *await footer_of(app, pilot)))
        for screen in (DetailScreen("worker_1"), QueueScreen("worker_1")):
            shown.append((type(screen).__name__, *await footer_of(app, pilot, screen)))
        for name, line, items in shown:
            assert items and all(item in line for item in items), f"{name} at {width}: {line!r} lacks some of {items}"
            assert "Help" in items and ("Quit" in items or "Back" in items) and "Panes" in items, name
        assert ("Scan" in shown[4][2]) is demo


FORMS = {"n": "Provision a session", "m": "Send a test message", "t": "Pin"}
PANE_FORMS = {("2", "a"): "Add a proxy", ("3", "e"): "Edit tier", ("3", "a"): "Add a tier"}


async def open_form(pilot: Pilot[Any], *keys: str) -> Form[Any, Any]:
    await pilot.press(*keys)
    return await until(pilot, lambda: pilot.app.screen if isinstance(pilot.app.screen, Form) else None)


async def assert_labels_whole(pilot: Pilot[Any], form: Form[Any, Any], width: int) -> None:
    """Each label, scrolled into view, is on screen whole, on one line."""
    for label in form.query(Label):
        label.scroll_visible(animate=False, immediate=True)
        await pilot.pause()
        text = str(label.render())
        assert any(text in line for line in screen_text(pilot.app).splitlines()), (
            f"{form.title_text!r} at {width}: {text!r} is cut"
        )


@pytest.mark.parametrize("width", WIDTHS)
async def test_every_form_label_is_whole(control_room, width: int) -> None:
    async with control_room(size=(width, 24)) as pilot:
        app: ControlRoom = pilot.app
        await provisioned(pilot)
        for key, title in FORMS.items():
            form = await open_form(pilot, key)
            assert form.title_text.startswith(title)
            await assert_labels_whole(pilot, form, width)
            await pilot.press("escape")
        await pilot.press("enter")  # the session screen: its pairing code
        form = await open_form(pilot, "c")
        assert form.title_text.startswith("Pairing code")
        await assert_labels_whole(pilot, form, width)
        await pilot.press("escape", "escape")
        for (pane, key), title in PANE_FORMS.items():
            await pilot.press(pane)
            await until(pilot, lambda: getattr(app.screen, "tiers", True))  # the tiers pane has read its table
            form = await open_form(pilot, key)
            assert form.title_text.startswith(title)
            await assert_labels_whole(pilot, form, width)
            await pilot.press("escape")


async def test_notices_wait_while_the_help_is_open(control_room) -> None:
    async with control_room(size=(80, 24), toasts=True) as pilot:
        app: ControlRoom = pilot.app
        await until(pilot, lambda: "PROXY_URL_<n>" in screen_text(app))  # a start-up notice ("No PROXY_URL_<n> …")
        app.notify("a notice still-due-after-the-help", timeout=60)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, Help) and "escape closes" in screen_text(app))
        text = screen_text(app)
        assert "PROXY_URL_<n>" not in text and "still-due" not in text
        assert "Keys" in text.splitlines()[2] and KEYS[0][1] in text  # the dialog from its title to its end
        await pilot.press("escape")
        await until(pilot, lambda: "still-due-after-the-help" in screen_text(app))
