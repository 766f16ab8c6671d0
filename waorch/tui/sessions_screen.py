"""The main screen: every session, live, with a filter and a sort column."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import TYPE_CHECKING

import redis.asyncio as aioredis
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.reactive import Reactive
from textual.screen import Screen
from textual.widgets import Footer, Input

from waorch.core.sessions import Status
from waorch.tui.bindings import HELP, PANE_BINDINGS, QUIT, session_bindings
from waorch.tui.sessions_table import SessionsTable
from waorch.tui.snapshot import COLUMNS, SessionRow, collect
from waorch.tui.title_bar import TitleBar

if TYPE_CHECKING:
    from waorch.tui.app import ControlRoom

log = logging.getLogger("waorch.tui")
REFRESH_S = 0.5


def title_counts(rows: list[SessionRow]) -> str:
    """``3 sessions: 2 connected, 1 qr_ready`` (statuses in lifecycle order)."""
    counts = Counter(row.status for row in rows)
    parts = [f"{counts[status]} {status}" for status in Status if counts[status]]
    parts += [f"{n} {status}" for status, n in counts.items() if status not in set(Status)]
    noun = "session" if len(rows) == 1 else "sessions"
    return f"{len(rows)} {noun}" + (f": {', '.join(parts)}" if parts else "")


class SessionsScreen(Screen[None]):
    """Sessions table, refreshed twice a second by diffing (the cursor stays on its session)."""

    BINDINGS = [
        *PANE_BINDINGS,
        Binding("n", "app.provision", "New"),
        *session_bindings("r"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("s", "sort", "Sort"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        HELP,
        QUIT,
    ]

    app: ControlRoom
    # The counts change with every status change; only the title bar repaints for it, not the screen.
    sub_title: Reactive[str | None] = Reactive(None, compute=False, repaint=False)

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[SessionRow] = []

    def compose(self) -> ComposeResult:
        """Header, table, filter line, footer."""
        yield TitleBar()
        yield SessionsTable(id="sessions")
        yield Input(placeholder="filter: any text in a row (escape clears)", id="filter")
        yield Footer()

    def on_mount(self) -> None:
        """Start the live refresh."""
        self.query_one("#filter", Input).display = False
        self.follow()

    @property
    def table(self) -> SessionsTable:
        """The sessions table."""
        return self.query_one(SessionsTable)

    @property
    def selected_id(self) -> str | None:
        """The session under the cursor."""
        return self.table.selected_id

    @work(exclusive=True, group="sessions")
    async def follow(self) -> None:
        """Read every session from the core and bring the table up to date, twice a second."""
        while True:
            reader = self.app.reader
            if reader is None:
                self.sub_title = self.app.core_state
            else:
                try:
                    self.rows = await self.app.call(collect(reader))
                    self.app.show_redis(True)
                    self.redraw()
                except (aioredis.RedisError, OSError) as error:
                    log.warning("refresh failed: %s", error)
                    self.sub_title = "Redis unavailable; retrying"
                    self.app.show_redis(False)
                except NoMatches:  # the app is closing
                    return
            await asyncio.sleep(REFRESH_S)

    def redraw(self) -> None:
        """Apply the last rows with the current filter."""
        filter_text = self.query_one("#filter", Input).value.strip()
        self.table.apply(self.rows, self.app.clock.now(), filter_text)
        shown = f" (filter {filter_text!r}: {self.table.row_count} shown)" if filter_text else ""
        self.sub_title = title_counts(self.rows) + shown + (" · read-only" if self.app.readonly else "")

    def action_filter(self) -> None:
        """Show the filter line and focus it."""
        line = self.query_one("#filter", Input)
        line.display = True
        line.focus()

    def action_clear_filter(self) -> None:
        """Empty and hide the filter line."""
        line = self.query_one("#filter", Input)
        line.value = ""
        line.display = False
        self.table.focus()
        self.redraw()

    @on(Input.Changed, "#filter")
    def filter_changed(self) -> None:
        """Filter as you type."""
        self.redraw()

    @on(Input.Submitted, "#filter")
    def filter_done(self) -> None:
        """Enter keeps the filter and goes back to the table."""
        self.table.focus()

    def action_sort(self) -> None:
        """Sort by the next column (id → phone → … → last ping → id)."""
        keys = [key for key, _, _ in COLUMNS]
        current = self.table.sort_column or "id"
        following = keys[(keys.index(current) + 1) % len(keys)]
        self.table.sort_by(following)
        self.notify(f"Sorted by {dict((k, label) for k, label, _ in COLUMNS)[following]}", timeout=2)

    @on(SessionsTable.RowSelected, "#sessions")
    def open_session(self, event: SessionsTable.RowSelected) -> None:
        """Enter on a row opens its detail screen."""
        self.app.open_detail(event.key)
