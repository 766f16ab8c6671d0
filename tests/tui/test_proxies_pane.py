"""The proxies pane (key 2): load, BAD with its cool-down, sticky phones; add and remove by keyboard."""

from __future__ import annotations

from textual.widgets import Input
from tui_support import new_session, notices, rows_of, screen_text, text_of, until

from waorch.tui.app import ControlRoom
from waorch.tui.forms import Form
from waorch.tui.live_table import LiveTable
from waorch.tui.modals import Confirm
from waorch.tui.proxies_screen import ProxiesScreen


def proxy_rows(app: ControlRoom) -> list[str]:
    """The proxies table, one line per proxy."""
    return rows_of(app.screen.query_one(LiveTable)) if isinstance(app.screen, ProxiesScreen) else []


async def test_load_bad_cooldown_and_phones_without_the_password(control_room, socks_proxy) -> None:
    proxy = socks_proxy(user="alice", password="s3cret-pw")
    async with control_room(PROXY_URL_1=proxy.url, MAX_SESSIONS_PER_PROXY="3") as pilot:
        app: ControlRoom = pilot.app
        session = await new_session(app, phone="+972 50-111 1111")
        await pilot.press("2")
        [row] = await until(pilot, lambda: proxy_rows(app))
        assert f"127.0.0.1:{proxy.port}" in row and "ok" in row and "1/3" in row and "972501111111" in row
        await app.reader.pool.mark_bad(session.proxy, "connection refused")
        [row] = await until(pilot, lambda: [r for r in proxy_rows(app) if "BAD" in r])
        seconds_left = int(row.split("BAD")[1].split()[0])
        assert 50 <= seconds_left <= 60 and "connection refused" in row
        assert "s3cret-pw" not in screen_text(app) and "alice" not in screen_text(app)


async def test_a_adds_a_proxy_and_bad_or_duplicate_urls_are_explained_in_the_form(control_room, socks_proxy) -> None:
    proxy = socks_proxy()
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        await pilot.press("2")
        await pilot.press("a")
        form = await until(pilot, lambda: app.screen if isinstance(app.screen, Form) else None)
        form.query_one("#url", Input).value = "ftp://nowhere:21"
        await pilot.press("enter")
        await until(pilot, lambda: text_of(app, "#problem").startswith("Proxy scheme must be socks5h:// or socks5://"))
        assert form.query_one("#url", Input).value == "ftp://nowhere:21"
        form.query_one("#url", Input).value = proxy.url
        await pilot.press("enter")
        await until(pilot, lambda: any(f"127.0.0.1:{proxy.port} added" in text for text in notices(app)))
        await until(pilot, lambda: len(proxy_rows(app)) == 1)
        await pilot.press("a")
        form = await until(pilot, lambda: app.screen if isinstance(app.screen, Form) else None)
        form.query_one("#url", Input).value = proxy.url
        await pilot.press("enter")
        await until(pilot, lambda: "is already in the pool" in text_of(app, "#problem"))
        assert len(await app.reader.pool.list()) == 1


async def test_remove_asks_naming_the_proxy_and_refuses_while_it_carries_sessions(control_room, socks_proxy) -> None:
    busy, idle = socks_proxy(), socks_proxy()
    async with control_room(PROXY_URL_1=busy.url, PROXY_URL_2=idle.url, MAX_SESSIONS_PER_PROXY="1") as pilot:
        app: ControlRoom = pilot.app
        session = await new_session(app)
        busy_id = session.proxy
        await pilot.press("2")
        await until(pilot, lambda: len(proxy_rows(app)) == 2)
        table = app.screen.query_one(LiveTable)
        table.move_cursor(row=table.get_row_index(busy_id))
        await pilot.press("ctrl+d")
        confirm = await until(pilot, lambda: app.screen if isinstance(app.screen, Confirm) else None)
        assert f"127.0.0.1:{busy.port}" in confirm.question
        await pilot.click("#ok")
        await until(pilot, lambda: any("still carries sessions" in text for text in notices(app)))
        idle_row = 1 - table.get_row_index(busy_id)
        table.move_cursor(row=idle_row)
        await pilot.press("ctrl+d")
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.click("#ok")
        await until(pilot, lambda: len(proxy_rows(app)) == 1)
        assert [info.id for info in await app.reader.pool.list()] == [busy_id]


async def test_readonly_refuses_adding_and_removing(control_room, socks_proxy) -> None:
    proxy = socks_proxy()
    async with control_room(readonly=True, PROXY_URL_1=proxy.url) as pilot:
        app: ControlRoom = pilot.app
        await pilot.press("2")
        await until(pilot, lambda: proxy_rows(app))
        for key in ("a", "ctrl+d"):
            await pilot.press(key)
            assert not isinstance(app.screen, Form | Confirm)
        assert sum("Read-only mode" in text for text in notices(app)) == 2
        assert len(await app.reader.pool.list()) == 1
