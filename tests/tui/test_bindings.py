"""Keys: one meaning per key on every screen, q quits from the panes (asking first when the core
runs here), and a pane's key leads to that pane from any screen."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input
from tui_support import SIZE, provisioned, until

from waorch.config import Settings
from waorch.control import RemoteControl
from waorch.service import running_service
from waorch.sim.server import SimServer
from waorch.tui.app import ControlRoom
from waorch.tui.bindings import CONTEXTUAL
from waorch.tui.detail import DetailScreen
from waorch.tui.forms import Form
from waorch.tui.modals import Confirm, ConfirmQuit, Help
from waorch.tui.proxies_screen import ProxiesScreen
from waorch.tui.queue_screen import QueueScreen
from waorch.tui.sessions_screen import SessionsScreen

SCREENS: list[type[Screen]] = [*ControlRoom.MODES.values(), DetailScreen, QueueScreen]  # type: ignore[list-item]
DIALOGS: list[type[Screen]] = [Form, Confirm, ConfirmQuit, Help]


def bindings_of(*classes: type, ours: bool = True) -> dict[str, set[str]]:
    """Each key and the actions the classes bind it to (and their bases: ``ours``, only waorch's own)."""
    actions: dict[str, set[str]] = defaultdict(set)
    for cls in classes:
        for base in cls.__mro__:
            if not ours or base.__module__.startswith("waorch."):
                for binding in Binding.make_bindings(vars(base).get("BINDINGS", [])):
                    actions[binding.key].add(binding.action)
    return actions


def test_no_key_means_two_things_on_one_screen_with_the_apps_keys() -> None:
    app_keys = bindings_of(ControlRoom, ours=False)  # Textual's own too: ctrl+q, ctrl+c
    for screen in SCREENS + DIALOGS:
        own = bindings_of(screen)
        clashes = {key: actions for key, actions in own.items() if len(actions) > 1}
        assert not clashes, f"{screen.__name__}: {clashes}"
        assert not own.keys() & app_keys.keys(), f"{screen.__name__} hides a key of the app's"


def test_a_key_means_the_same_on_every_screen_but_the_few_that_mean_the_screens_own() -> None:
    actions: dict[str, set[str]] = defaultdict(set)
    for screen in SCREENS:
        for key, bound in bindings_of(screen).items():
            actions[key] |= bound
    clashes = {key: bound for key, bound in actions.items() if len(bound) > 1 and key not in CONTEXTUAL}
    assert not clashes
    assert actions["s"] == {"sort"} and actions["x"] == {"app.scan"}  # sorting the table is not scanning a QR


async def test_q_asks_before_stopping_the_core_here_and_goes_back_from_a_session(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        await provisioned(pilot)
        await pilot.press("slash", "q")  # typed into the filter, not a key
        assert app.screen.query_one("#filter", Input).value == "q" and app.return_code is None
        await pilot.press("escape", "enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        await pilot.press("q")
        assert isinstance(app.screen, SessionsScreen) and app.return_code is None
        await pilot.press("2", "q")
        confirm = await until(pilot, lambda: app.screen if isinstance(app.screen, ConfirmQuit) else None)
        assert "The core stops with it" in confirm.question and "q again" in confirm.question
        await pilot.press("escape")
        assert isinstance(app.screen, ProxiesScreen) and app.return_code is None
        await pilot.press("q", "q")
        assert app.return_code == 0


async def test_q_quits_at_once_when_reading_only(control_room) -> None:
    async with control_room(readonly=True) as pilot:
        await pilot.press("q")
        assert pilot.app.return_code == 0


async def test_q_quits_an_attached_room_at_once_and_the_core_goes_on(
    make_settings: Callable[..., Settings], sim: SimServer
) -> None:
    async with running_service(make_settings(SIM_URL=sim.url), stop_workers=True) as service:
        app = ControlRoom(make_settings(SIM_URL=sim.url))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.control, RemoteControl))
            await pilot.press("3", "q")
            assert app.return_code == 0
        assert service.core.state == "active"


async def test_a_panes_key_leads_to_it_from_any_screen_and_to_its_first_screen_from_within(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        session_id = await provisioned(pilot)
        await pilot.press("enter", "u")
        await until(pilot, lambda: isinstance(app.screen, QueueScreen))
        await pilot.press("4")
        assert app.current_mode == "log"
        await pilot.press("1")  # back where it was left
        assert isinstance(app.screen, QueueScreen) and app.screen.session_id == session_id
        await pilot.press("1")  # within the pane: its first screen
        assert isinstance(app.screen, SessionsScreen) and len(app.screen_stack) == 1
