"""The log pane (key 4): activity as it happens, a filter, and a follow that stops when scrolled up."""

from __future__ import annotations

from tui_support import new_session, notices, provisioned, text_of, until

from waorch.core.sessions import Status
from waorch.tui.app import ControlRoom
from waorch.tui.detail import DetailScreen
from waorch.tui.log_screen import FollowingLog, LogScreen


def log_lines(app: ControlRoom) -> list[str]:
    """The lines the log shows."""
    return (
        [strip.text.rstrip() for strip in app.screen.query_one(FollowingLog).lines]
        if isinstance(app.screen, LogScreen)
        else []
    )


async def test_events_appear_as_they_happen_with_time_level_and_session(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        await pilot.press("4")
        await until(pilot, lambda: isinstance(app.screen, LogScreen))
        session = await new_session(app)
        await until(
            pilot, lambda: any(f"info    {session.id}" in line and "qr_ready" in line for line in log_lines(app))
        )
        await app.reader.activity.add("error", "proxy", "proxy 127.0.0.1:9 marked BAD (refused)", session.id)
        [line] = await until(pilot, lambda: [line for line in log_lines(app) if "marked BAD" in line])
        assert line[2] == line[5] == ":" and line[9:14] == "error"


async def test_the_filter_keeps_matching_lines_and_escape_clears_it(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        for n in range(5):
            await app.reader.activity.add("info", "test", f"line number {n}", f"worker_{n}")
        await pilot.press("4")
        await until(pilot, lambda: len(log_lines(app)) == 5)
        await pilot.press("slash", *"worker_3")
        await until(pilot, lambda: len(log_lines(app)) == 1)
        assert "line number 3" in log_lines(app)[0] and "filter 'worker_3'" in app.screen.sub_title
        await app.reader.activity.add("warning", "test", "newer, also for worker_3", "worker_3")
        await app.reader.activity.add("warning", "test", "newer, for someone else", "worker_4")
        await until(pilot, lambda: len(log_lines(app)) == 2)
        await pilot.press("escape")
        await until(pilot, lambda: len(log_lines(app)) == 7)


async def test_scrolling_up_stops_following_and_end_resumes(control_room) -> None:
    async with control_room(size=(80, 24)) as pilot:
        app: ControlRoom = pilot.app
        for n in range(60):
            await app.reader.activity.add("info", "test", f"entry {n}")
        await pilot.press("4")
        view = await until(pilot, lambda: isinstance(app.screen, LogScreen) and app.screen.query_one(FollowingLog))
        await until(pilot, lambda: len(log_lines(app)) == 60 and view.is_vertical_scroll_end)
        assert "following" in app.screen.sub_title
        await pilot.press("pageup")
        await until(pilot, lambda: not view.following)
        top = view.scroll_y
        await app.reader.activity.add("info", "test", "while scrolled back")
        await until(pilot, lambda: len(log_lines(app)) == 61 and "end follows again" in app.screen.sub_title)
        assert view.scroll_y == top
        await pilot.press("end")
        await until(pilot, lambda: view.following)
        await app.reader.activity.add("info", "test", "followed again")
        await until(pilot, lambda: len(log_lines(app)) == 62 and view.is_vertical_scroll_end and view.scroll_y > top)
        assert not any("Traceback" in text for text in notices(app))


async def test_the_session_screen_lists_its_last_events(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        session_id = await provisioned(pilot)
        other = await new_session(app)
        # The worker's own entries first (up to its qr_ready), so that the test's entry is the newest.
        for _ in range(300):
            if any(e.session == session_id and "qr_ready" in e.text for e in await app.reader.activity.latest(50)):
                break
            await pilot.pause(0.05)
        await app.reader.activity.add("error", "message", "msg_1 to +972502345678 failed: not on WhatsApp", session_id)
        await app.reader.activity.add("error", "message", "something about the other session", other.id)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        lines = await until(
            pilot, lambda: "failed: not on WhatsApp" in text_of(app, "#events") and text_of(app, "#events").splitlines()
        )
        assert "failed: not on WhatsApp" in lines[0] and any("qr_ready" in line for line in lines[1:])  # newest first
        assert "other session" not in text_of(app, "#events")


async def test_an_alert_shows_with_its_sign_and_without_a_secret(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        session = await new_session(app)
        reason = "proxy socks5h://bob:hunter2-secret@127.0.0.1:9 failed"
        await app.reader.activity.status_changed(session.id, Status.FAILED, reason)  # the core's status listener
        await pilot.press("4")
        [line] = await until(pilot, lambda: [line for line in log_lines(app) if "❌" in line])
        assert f"{session.id}" in line and "❌ failed: proxy socks5h://***@127.0.0.1:9 failed" in line
        assert "hunter2" not in line and "bob" not in line
