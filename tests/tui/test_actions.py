"""Actions by keyboard on a real core: provision, delete (confirmed or not), restart, pause, logout, read-only."""

from __future__ import annotations

import socket

from textual.widgets import Button, Input
from tui_support import SIZE, notices, provisioned, text_of, until

from waorch.tui.app import ControlRoom
from waorch.tui.detail import DetailScreen
from waorch.tui.forms import Form
from waorch.tui.modals import Confirm, Help
from waorch.tui.sessions_table import SessionsTable


async def test_n_and_the_form_provision_a_session_and_follow_it_to_its_qr(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        await pilot.press("n")
        assert isinstance(app.screen, Form) and app.screen.title_text == "Provision a session"
        app.screen.query_one("#phone", Input).value = "+972 50-222 2222"
        await pilot.click("#ok")
        detail = await until(pilot, lambda: app.screen if isinstance(app.screen, DetailScreen) else None)
        [session] = await app.reader.store.list()
        assert detail.session_id == session.id and session.phone == "972502222222"
        await until(pilot, lambda: app.screen.query_one("#qr").display and app.screen.query_one("#qr").payload)
        await pilot.press("escape")
        await until(pilot, lambda: session.id in app.screen.query_one(SessionsTable).rows)


async def test_a_bad_phone_is_explained_in_the_form_which_keeps_it_and_nothing_changes(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        await pilot.press("n")
        form = app.screen
        form.query_one("#phone", Input).value = "not a phone"
        await pilot.press("enter")
        await until(pilot, lambda: "Phone is not a phone number: 'not a phone'" in text_of(app, "#problem"))
        assert app.screen is form and form.query_one("#phone", Input).value == "not a phone"
        assert await app.reader.store.list() == []
        form.query_one("#phone", Input).value = "+972 50-222 2222"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        assert [session.phone for session in await app.reader.store.list()] == ["972502222222"]


async def test_ctrl_d_asks_first_cancel_keeps_the_session_and_confirm_deletes_it(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        session_id = await provisioned(pilot)
        await pilot.press("ctrl+d")
        assert isinstance(app.screen, Confirm) and session_id in app.screen.question
        assert app.focused is app.screen.query_one("#cancel", Button)
        await pilot.press("enter")  # the focused button: Cancel
        assert not isinstance(app.screen, Confirm)
        await pilot.pause(0.3)
        assert await app.reader.store.find(session_id) is not None
        await pilot.press("ctrl+d")
        await pilot.click("#ok")
        await until(pilot, lambda: session_id not in app.screen.query_one(SessionsTable).rows)
        assert await app.reader.store.find(session_id) is None


async def test_pause_and_restart_act_on_the_session_under_the_cursor(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        await provisioned(pilot)
        session_id = await provisioned(pilot)
        await pilot.press("p")
        await until(pilot, lambda: any("sending paused" in text for text in notices(app)))
        assert (await app.reader.store.get(session_id)).paused
        await pilot.press("p")
        await until(pilot, lambda: any("sending resumed" in text for text in notices(app)))
        assert not (await app.reader.store.get(session_id)).paused
        await pilot.press("r")
        await until(pilot, lambda: any(f"{session_id}: restart queued" in text for text in notices(app)))
        assert any(entry.get("reason") == "restart requested" for entry in await app.reader.store.history(session_id))


async def test_logout_of_a_session_that_is_gone_is_a_readable_notice(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        session_id = await provisioned(pilot)
        await pilot.press("l")
        assert isinstance(app.screen, Confirm) and session_id in app.screen.question
        await app.control.delete(session_id)
        await pilot.click("#ok")
        await until(pilot, lambda: any(f"no session {session_id}" in text for text in notices(app)))
        assert not any("Traceback" in text for text in notices(app))


async def test_readonly_refuses_every_action_with_a_notice(control_room) -> None:
    async with control_room(readonly=True) as pilot:
        app: ControlRoom = pilot.app
        session_id = await provisioned(pilot)
        for key in ("n", "r", "ctrl+d", "l", "p"):
            await pilot.press(key)
            assert not isinstance(app.screen, Form | Confirm)
        await pilot.pause(0.3)
        assert sum("Read-only mode" in text for text in notices(app)) == 5
        assert not (await app.reader.store.get(session_id)).paused
        assert not any(
            entry.get("reason") == "restart requested" for entry in await app.reader.store.history(session_id)
        )
        assert "read-only" in app.screen.sub_title


async def test_help_lists_every_key(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        await pilot.press("question_mark")
        assert isinstance(app.screen, Help)
        keys = [key for key, _ in app.screen.keys]
        for key in ("n", "enter", "r", "ctrl+d", "l", "p", "/", "s", "?", "ctrl+p"):
            assert key in keys


async def test_the_command_palette_offers_the_session_actions(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        session_id = await provisioned(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*f"Delete {session_id}")
        await pilot.pause(0.5)
        await pilot.press("enter")
        confirm = await until(pilot, lambda: app.screen if isinstance(app.screen, Confirm) else None)
        assert session_id in confirm.question


async def test_a_core_that_cannot_start_is_a_notice_and_actions_wait_for_it(make_settings, sim, redis) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = make_settings(SIM_URL=sim.url, ORCH_PORT=str(taken.getsockname()[1]))
        app = ControlRoom(settings, stop_workers=True)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: any("address already in use" in text.lower() for text in notices(app)))
            assert app.reader is None
            await until(pilot, lambda: "the core is not running" in app.screen.sub_title)
            await pilot.press("n")
            assert not isinstance(app.screen, Form)
            assert any("not running" in text for text in notices(app))


async def test_the_command_palette_says_when_the_daily_jobs_run(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        await pilot.press("ctrl+p")
        await pilot.press(*"Scheduled jobs")
        await pilot.press("enter")
        notice = await until(pilot, lambda: [text for text in notices(app) if text.startswith("summary:")])
        assert "summary: next " in notice[0] and "never run" in notice[0] and "prune: next " in notice[0]
