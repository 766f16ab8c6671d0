"""The sessions table shows the fleet live, filters, sorts, and keeps the cursor on its session."""

from __future__ import annotations

from support import scan
from tui_support import new_session, until

from waorch.tui.app import ControlRoom
from waorch.tui.sessions_table import SessionsTable


def cell(app: ControlRoom, session_id: str, column: str) -> str | None:
    """A cell's text, or ``None`` while the row is not shown."""
    table = app.screen.query_one(SessionsTable)
    return str(table.get_cell(session_id, column)) if session_id in table.rows else None


async def test_table_shows_sessions_and_follows_their_status(control_room, sim) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        session = await new_session(app)
        await until(pilot, lambda: cell(app, session.id, "status") == "qr_ready")
        assert cell(app, session.id, "proxy") == "direct"
        assert cell(app, session.id, "today") == "0/20"
        assert "1 session: 1 qr_ready" in app.screen.sub_title
        qr = (await app.reader.store.get(session.id)).qr
        assert (await scan(sim.url, qr, "972501111111")).status_code == 200
        await until(pilot, lambda: cell(app, session.id, "status") == "connected")
        assert cell(app, session.id, "phone") == "972501111111"
        assert "1 connected" in app.screen.sub_title


async def test_proxy_shown_by_endpoint_never_with_its_password(control_room, socks_proxy) -> None:
    proxy = socks_proxy("alice", "s3cret-pass")
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        session = await new_session(app, proxy=proxy.url)
        await until(pilot, lambda: cell(app, session.id, "proxy"))
        assert cell(app, session.id, "proxy").endswith(f"127.0.0.1:{proxy.port}")
        table = app.screen.query_one(SessionsTable)
        assert not any("s3cret" in str(value) for row in range(table.row_count) for value in table.get_row_at(row))


async def test_filter_sort_and_cursor_stays_on_its_session(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        ids = [(await new_session(app, phone=phone)).id for phone in ("972500000003", "972500000001", "972500000002")]
        table = app.screen.query_one(SessionsTable)
        await until(pilot, lambda: table.row_count == 3)
        await pilot.press("down")  # cursor on the second session
        assert table.selected_id == ids[1]
        await pilot.press("s")  # sort by phone: 0001, 0002, 0003
        assert [table.key_at(row) for row in range(3)] == [ids[1], ids[2], ids[0]]
        assert table.selected_id == ids[1]
        await pilot.press("slash", *"0002", "enter")
        await until(pilot, lambda: table.row_count == 1)
        assert table.selected_id == ids[2]
        assert "filter '0002': 1 shown" in app.screen.sub_title
        await pilot.press("slash", "escape")
        await until(pilot, lambda: table.row_count == 3)
        assert table.selected_id == ids[2]
        await app.control.delete(ids[0])
        await until(pilot, lambda: table.row_count == 2)
        assert table.selected_id == ids[2]
