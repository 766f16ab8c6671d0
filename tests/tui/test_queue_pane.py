"""A session's queue (key u), a test message (m) and a tier pin (t), by keyboard on a real core."""

from __future__ import annotations

from textual.widgets import Input
from tui_support import notices, provisioned, rows_of, text_of, until

from waorch.tui.app import ControlRoom
from waorch.tui.forms import Form
from waorch.tui.live_table import LiveTable
from waorch.tui.queue_screen import QueueScreen
from waorch.tui.sessions_screen import SessionsScreen
from waorch.tui.sessions_table import SessionsTable


async def send_by_form(pilot, to: str, text: str) -> Form:
    """Press m (unless the form is open), fill the form, submit; the form."""
    if not isinstance(pilot.app.screen, Form):
        await pilot.press("m")
    form = await until(pilot, lambda: pilot.app.screen if isinstance(pilot.app.screen, Form) else None)
    form.query_one("#to", Input).value = to
    form.query_one("#message", Input).value = text
    form.query_one("#to", Input).focus()
    await pilot.press("enter")
    return form


async def test_m_queues_a_test_message_and_u_shows_the_queue_live(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        session_id = await provisioned(pilot)
        long_text = "hello from the control room " * 5
        await send_by_form(pilot, "+972 50-234 5678", long_text)
        [notice] = await until(pilot, lambda: [text for text in notices(app) if "queued on" in text])
        message_id = notice.split()[1]
        assert message_id.startswith("msg_") and session_id in notice
        await pilot.press("u")
        queue = await until(pilot, lambda: app.screen if isinstance(app.screen, QueueScreen) else None)
        [row] = await until(pilot, lambda: rows_of(queue.query_one(LiveTable)))
        assert message_id in row and "+972502345678" in row and "queued" in row and row.endswith("…")
        summary = text_of(app, "#queue-summary")
        assert (
            "queued       1" in summary
            and "waiting: the session is not connected (qr_ready)" in summary
            and "queued 1 / 20" in summary
        )
        assert "this minute  0 / 5" in summary and "tier         cold" in summary
        await send_by_form(pilot, "+972522222222", "second")
        await until(pilot, lambda: len(rows_of(queue.query_one(LiveTable))) == 2)
        await pilot.press("p")
        await until(pilot, lambda: "PAUSED" in text_of(app, "#queue-summary"))
        assert (
            "waiting: sending is paused" in text_of(app, "#queue-summary")
            and (await app.reader.store.get(session_id)).paused
        )
        await pilot.press("escape")
        assert isinstance(app.screen, SessionsScreen)


async def test_a_refused_message_stays_in_its_form_which_says_why_in_its_own_words(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        session_id = await provisioned(pilot)
        form = await send_by_form(pilot, "not a phone", "hi")
        await until(pilot, lambda: text_of(app, "#problem").startswith("To is not a valid phone number: 'not a phone'"))
        assert app.screen is form and form.query_one("#to", Input).value == "not a phone"
        assert form.query_one("#message", Input).value == "hi"
        await send_by_form(pilot, "+972502345678", "")
        await until(pilot, lambda: text_of(app, "#problem") == "Message must be non-empty text")
        assert app.screen is form and await app.reader.messages.depth(session_id) == 0
        await send_by_form(pilot, "+972502345678", "now right")
        await until(pilot, lambda: not isinstance(app.screen, Form))
        assert await app.reader.messages.depth(session_id) == 1


async def test_t_pins_a_tier_and_an_unknown_one_is_explained_in_the_form(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        session_id = await provisioned(pilot)
        await pilot.press("t")
        form = await until(pilot, lambda: app.screen if isinstance(app.screen, Form) else None)
        form.query_one("#tier", Input).value = "platinum"
        await pilot.press("enter")
        await until(pilot, lambda: text_of(app, "#problem") == "No tier named 'platinum'")
        form.query_one("#tier", Input).value = "hot"
        await pilot.press("enter")
        await until(pilot, lambda: any("pinned to tier hot" in text for text in notices(app)))
        assert (await app.reader.store.get(session_id)).tier_pin == "hot"
        table = app.screen.query_one(SessionsTable)
        await until(pilot, lambda: "0/500" in rows_of(table)[0])


async def test_readonly_shows_the_queue_but_refuses_sending_and_pinning(control_room) -> None:
    async with control_room(readonly=True) as pilot:
        app: ControlRoom = pilot.app
        session_id = await provisioned(pilot)
        for key in ("m", "t"):
            await pilot.press(key)
            assert not isinstance(app.screen, Form)
        await pilot.pause(0.3)
        assert sum("Read-only mode" in text for text in notices(app)) == 2
        await pilot.press("u")
        await until(pilot, lambda: "tier         cold" in text_of(app, "#queue-summary"))
        await pilot.press("p")
        await until(pilot, lambda: sum("Read-only mode" in text for text in notices(app)) == 3)
        assert not (await app.reader.store.get(session_id)).paused
