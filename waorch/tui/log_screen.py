"""The log pane: the fleet's activity as it happens, filterable; it follows the tail until scrolled up."""

from __future__ import annotations

from collections import deque
from datetime import datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Input, RichLog

from waorch.core.activity import Activity, ActivityLog
from waorch.core.alerts import EMOJI
from waorch.core.reader import CoreReader
from waorch.tui.bindings import HELP, PANE_BINDINGS, QUIT
from waorch.tui.live_pane import LivePane
from waorch.tui.title_bar import TitleBar

BACKLOG = 500  # entries shown when the pane opens
KEPT = 2000  # entries kept for filtering
LEVEL_STYLES = {"warning": "yellow", "error": "bold red"}


def activity_line(entry: Activity, with_session: bool = True) -> Text:
    """``14:03:21 error   worker_3     ❌ failed: banned`` (levels in colour; an alert with its sign)."""
    at = datetime.fromtimestamp(entry.ts).strftime("%H:%M:%S")
    who = f"{entry.session or '-':<12} " if with_session else ""
    sign = f"{EMOJI.get(entry.alert, '•')} " if entry.alert else ""
    return Text(f"{at} {entry.level:<7} {who}{sign}{entry.text}", style=LEVEL_STYLES.get(entry.level, ""))


class ActivityFeed:
    """Reads the activity stream incrementally: the last ``backlog`` entries first, then only newer ones."""

    def __init__(self, backlog: int = BACKLOG) -> None:
        self.backlog = backlog
        self.last_id: str | None = None

    async def poll(self, activity: ActivityLog) -> list[Activity]:
        """Entries not returned before, oldest first."""
        found = await (activity.latest(self.backlog) if self.last_id is None else activity.after(self.last_id))
        self.last_id = found[-1].id if found else self.last_id or "0-0"
        return found


class FollowingLog(RichLog):
    """A log that knows whether it follows the tail: scrolling up stops it, reaching the bottom resumes it."""

    following = True

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """Follow exactly while the view is at the bottom."""
        super().watch_scroll_y(old_value, new_value)
        self.following = new_value >= self.max_scroll_y


class LogScreen(LivePane[list[Activity]]):
    """Every activity entry, newest at the bottom."""

    REFRESH_S = 0.5
    BINDINGS = [
        *PANE_BINDINGS,
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("end", "follow", "Follow"),
        Binding("b", "app.backup", "Backup"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        HELP,
        QUIT,
    ]

    def __init__(self) -> None:
        super().__init__()
        self.feed = ActivityFeed()
        self.entries: deque[Activity] = deque(maxlen=KEPT)

    def compose(self) -> ComposeResult:
        """Header, log, filter line, footer."""
        yield TitleBar()
        yield FollowingLog(id="log", max_lines=KEPT, wrap=True, auto_scroll=False)
        yield Input(placeholder="filter: any text in a line (escape clears)", id="log-filter")
        yield Footer()

    def on_mount(self) -> None:
        """Hide the filter line; start reading."""
        self.query_one("#log-filter", Input).display = False
        super().on_mount()

    @property
    def log_view(self) -> FollowingLog:
        """The log widget."""
        return self.query_one(FollowingLog)

    @property
    def filter_text(self) -> str:
        """The current filter (lower case; empty: none)."""
        return self.query_one("#log-filter", Input).value.strip().lower()

    async def read(self, reader: CoreReader) -> list[Activity]:
        """Entries added since the last read."""
        return await self.feed.poll(reader.activity)

    def show(self, data: list[Activity]) -> None:
        """Append the new entries that match the filter (scrolling along only while following)."""
        self.entries.extend(data)
        view = self.log_view
        follow = view.following
        for entry in data:
            if self._matches(entry):
                view.write(activity_line(entry), scroll_end=follow)
        self._state(follow)

    def _state(self, following: bool) -> None:
        shown = f" · filter {self.filter_text!r}" if self.filter_text else ""
        self.sub_title = ("following" if following else "scrolled back: end follows again") + shown

    def _matches(self, entry: Activity) -> bool:
        needle = self.filter_text
        return not needle or needle in activity_line(entry).plain.lower()

    def redraw(self) -> None:
        """Show the kept entries again through the current filter, at the tail."""
        view = self.log_view
        view.clear()
        for entry in self.entries:
            if self._matches(entry):
                view.write(activity_line(entry), scroll_end=True)
        self._state(True)

    def action_follow(self) -> None:
        """Jump to the newest line and follow again."""
        self.log_view.scroll_end(animate=False)

    def action_filter(self) -> None:
        """Show the filter line and focus it."""
        line = self.query_one("#log-filter", Input)
        line.display = True
        line.focus()

    def action_clear_filter(self) -> None:
        """Empty and hide the filter line."""
        line = self.query_one("#log-filter", Input)
        line.value = ""
        line.display = False
        self.log_view.focus()

    @on(Input.Changed, "#log-filter")
    def filter_changed(self) -> None:
        """Filter as you type."""
        self.redraw()

    @on(Input.Submitted, "#log-filter")
    def filter_done(self) -> None:
        """Enter keeps the filter and goes back to the log."""
        self.log_view.focus()
