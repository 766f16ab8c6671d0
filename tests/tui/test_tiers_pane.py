"""The trust-tier pane (key 3): edit, add and remove tiers, checked before saving, in effect at once."""

from __future__ import annotations

import json

from textual.widgets import Input
from tui_support import notices, provisioned, rows_of, text_of, until

from waorch.tui.app import ControlRoom
from waorch.tui.forms import Form
from waorch.tui.live_table import LiveTable
from waorch.tui.modals import Confirm
from waorch.tui.sessions_table import SessionsTable
from waorch.tui.tiers_screen import TiersScreen


def tier_rows(app: ControlRoom) -> list[str]:
    """The tier table, one line per tier."""
    return rows_of(app.screen.query_one(LiveTable)) if isinstance(app.screen, TiersScreen) else []


async def open_form(pilot, key: str) -> Form:
    """Press ``key`` on the tiers pane and wait for the form."""
    await pilot.press(key)
    return await until(pilot, lambda: pilot.app.screen if isinstance(pilot.app.screen, Form) else None)


async def test_editing_a_tier_takes_effect_at_once(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        session_id = await provisioned(pilot)
        await pilot.press("3")
        rows = await until(pilot, lambda: tier_rows(app))
        assert [row.split()[0] for row in rows] == ["cold", "warm", "hot"]
        form = await open_form(pilot, "enter")
        assert form.query_one("#name", Input).value == "cold"
        form.query_one("#dailyLimit", Input).value = "7"
        await pilot.click("#ok")
        await until(pilot, lambda: any("Trust tiers saved" in text for text in notices(app)))
        assert json.loads(await app.reader.redis.get("waorch:tiers"))[0]["daily_limit"] == 7
        await until(pilot, lambda: tier_rows(app) and " 7 " in tier_rows(app)[0])
        await pilot.press("1")
        table = app.screen.query_one(SessionsTable)
        await until(pilot, lambda: "0/7" in rows_of(table)[table.get_row_index(session_id)])


async def test_an_invalid_tier_is_explained_in_the_form_and_nothing_is_saved(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        await pilot.press("3")
        await until(pilot, lambda: tier_rows(app))
        form = await open_form(pilot, "e")
        form.query_one("#delayMinMs", Input).value = "9000"
        await pilot.click("#ok")
        await until(
            pilot,
            lambda: (
                text_of(app, "#problem") == ("Shortest gap between messages must be ≤ Longest gap between messages")
            ),
        )
        form.query_one("#delayMinMs", Input).value = "5000"
        hours_end = form.query_one("#hoursEnd", Input)
        hours_end.value = "25:00"
        hours_end.focus()  # Enter, not a second click: a Button ignores clicks for 0.2 s after one
        await pilot.press("enter")
        await until(pilot, lambda: text_of(app, "#problem") == "Active until must be HH:MM, got '25:00'")
        assert isinstance(app.screen, Form) and hours_end.value == "25:00"
        await pilot.press("escape")
        assert await app.reader.redis.get("waorch:tiers") is None  # still the defaults


async def test_add_a_tier_then_remove_one_the_first_cannot_go(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        await pilot.press("3")
        await until(pilot, lambda: tier_rows(app))
        form = await open_form(pilot, "a")
        form.query_one("#name", Input).value = "vip"
        form.query_one("#minAgeDays", Input).value = "30"
        await pilot.press("enter")
        await until(pilot, lambda: len(tier_rows(app)) == 4 and tier_rows(app)[3].startswith("vip"))
        await pilot.press("ctrl+d")  # the cursor is on cold: the table would have no tier for new sessions
        await until(pilot, lambda: any("minAgeDays must be 0" in text for text in notices(app)))
        assert not isinstance(app.screen, Confirm)
        app.screen.query_one(LiveTable).move_cursor(row=3)
        await pilot.press("ctrl+d")
        confirm = await until(pilot, lambda: app.screen if isinstance(app.screen, Confirm) else None)
        assert "vip" in confirm.question
        await pilot.click("#ok")
        await until(pilot, lambda: len(tier_rows(app)) == 3)
        assert [tier["name"] for tier in json.loads(await app.reader.redis.get("waorch:tiers"))] == [
            "cold",
            "warm",
            "hot",
        ]


async def test_readonly_refuses_every_tier_change(control_room) -> None:
    async with control_room(readonly=True) as pilot:
        app: ControlRoom = pilot.app
        await pilot.press("3")
        await until(pilot, lambda: tier_rows(app))
        for key in ("e", "enter", "a", "ctrl+d"):
            await pilot.press(key)
            assert not isinstance(app.screen, Form | Confirm)
        assert sum("Read-only mode" in text for text in notices(app)) == 4
