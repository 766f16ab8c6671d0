"""One session up close: its QR code while it waits to be paired, its status history and events."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import Footer, LoadingIndicator, Static

from waorch.core.account_health import Report
from waorch.core.activity import Activity
from waorch.core.reader import CoreReader
from waorch.core.sessions import Session, Status
from waorch.core.watchdog import CRASH_LIMIT, CRASH_WINDOW_S
from waorch.tui.bindings import BACK, HELP, PANE_BINDINGS, session_bindings
from waorch.tui.log_screen import ActivityFeed, activity_line
from waorch.tui.qr_view import QRView, smallest_size
from waorch.tui.title_bar import TitleBar

if TYPE_CHECKING:
    from waorch.tui.app import ControlRoom

log = logging.getLogger("waorch.tui")
SIDE_WIDTH = 38  # the side pane's width (see control_room.tcss)
CHROME_LINES = 3  # header, footer and the notice line above the QR code
REFRESH_S = 0.5
WAITING = frozenset({Status.PROVISIONING, Status.STARTING})
WORKING = frozenset({Status.QR_READY, Status.CONNECTED})  # no problem to explain
HISTORY_SHOWN = 20
EVENTS_SHOWN = 8


@dataclass(frozen=True)
class WorkerFacts:
    """What the core knows of a session beyond the session: its worker's next start, its restarts
    in the crash window, where its output is; the session's health score."""

    next_start: float | None
    recent_restarts: int
    log: str
    health: Report | None = None


def describe(entry: dict[str, Any]) -> str:
    """One history entry as a line: time, kind, then its fields."""
    at = datetime.fromtimestamp(float(entry.get("at", 0))).strftime("%H:%M:%S")
    details = " ".join(
        f"{key}={value}" for key, value in entry.items() if key not in ("at", "kind") and value not in (None, "")
    )
    return f"{at} {entry.get('kind', '?')} {details}".rstrip()


class DetailScreen(Screen[None]):
    """Live view of one session; the session actions apply to it."""

    BINDINGS = [
        BACK,
        Binding("c", "app.pairing_code", "Pairing code"),
        Binding("x", "app.scan", "Scan"),
        *session_bindings("r"),
        HELP,
        *PANE_BINDINGS,
    ]

    app: ControlRoom

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id
        self.pairing_code = ""
        self.feed = ActivityFeed()
        self.events: deque[Text] = deque(maxlen=EVENTS_SHOWN)  # the session's last activity entries

    def compose(self) -> ComposeResult:
        """QR pane on the left, facts and history on the right."""
        yield TitleBar()
        with Horizontal(id="detail"):
            with Vertical(id="qr-pane"):
                yield Static("", id="qr-notice")
                yield LoadingIndicator(id="qr-progress")
                yield QRView(id="qr")
            with VerticalScroll(id="side"):
                yield Static("", id="summary")
                yield Static("Last events (newest first)", classes="section")
                yield Static("", id="events")
                yield Static("History (newest first)", classes="section")
                yield Static("", id="history")
        yield Footer()

    def on_mount(self) -> None:
        """Start following the session."""
        self.sub_title = self.session_id
        self.follow()

    @property
    def selected_id(self) -> str:
        """The session the actions apply to."""
        return self.session_id

    async def _read(
        self, reader: CoreReader
    ) -> tuple[Session | None, list[dict[str, Any]], WorkerFacts, list[Activity]]:
        """One pass over the core (a single call: the core cannot change halfway through it)."""
        session, history, facts = await read(reader, self.session_id)
        return session, history, facts, await self.feed.poll(reader.activity)

    @work(exclusive=True, group="detail")
    async def follow(self) -> None:
        """Read the session from the core twice a second and show it."""
        while True:
            reader = self.app.reader
            if reader is not None:
                try:
                    session, history, facts, entries = await self.app.call(self._read(reader))
                    self.events.extend(
                        activity_line(entry, False) for entry in entries if entry.session == self.session_id
                    )
                    self.app.show_redis(True)
                    self.show(session, history, facts)
                except (aioredis.RedisError, OSError) as error:
                    log.warning("refresh of %s failed: %s", self.session_id, error)
                    self.query_one("#qr-notice", Static).update("Redis is unavailable; retrying…")
                    self.app.show_redis(False)
                except NoMatches:  # the screen closed while the session was read
                    return
            await asyncio.sleep(REFRESH_S)

    def show(self, session: Session | None, history: list[dict[str, Any]], facts: WorkerFacts) -> None:
        """Bring every part of the screen up to date."""
        notice = self.query_one("#qr-notice", Static)
        progress = self.query_one("#qr-progress", LoadingIndicator)
        qr = self.query_one("#qr", QRView)
        if session is None:
            notice.update(f"Session {self.session_id} no longer exists.")
            progress.display = qr.display = False
            self.query_one("#summary", Static).update("")
            self.query_one("#history", Static).update("")
            return
        progress.display = session.status in WAITING
        shown = session.status == Status.QR_READY and bool(session.qr)
        if shown:
            room = Size(max(0, self.size.width - SIDE_WIDTH), max(0, self.size.height - CHROME_LINES))
            shown = qr.show(session.qr, room)
            expires = countdown(session.qr_expires, self.app.clock.now())
            notice.update(
                f"Scan with WhatsApp → Linked devices. {expires}{self._scan_hint()}"
                if shown
                else too_small(self.size, smallest_size(session.qr))
            )
        elif session.status in WAITING:
            notice.update(
                f"{session.status.replace('_', ' ')}: waiting for the worker's QR code…" + trouble(session, facts)
            )
        else:
            notice.update(f"Status: {session.status}" + trouble(session, facts))
        qr.display = shown
        lines = summary(session) + next_attempt(facts, self.app.clock.now()) + health_block(facts.health)
        if self.pairing_code and session.status == Status.QR_READY:
            lines += f"\n\nPairing code  {self.pairing_code}\n(WhatsApp → Linked devices →\n Link with phone number)"
        self.query_one("#summary", Static).update(lines)
        self.query_one("#events", Static).update(Text("\n").join(reversed(self.events)) if self.events else "-")
        self.query_one("#history", Static).update("\n".join(describe(entry) for entry in history[:HISTORY_SHOWN]))

    def _scan_hint(self) -> str:
        """With the room's scanner (x): how to have the code scanned here."""
        return f" {self.app.scanner.hint}" if self.app.scanner else ""


async def read(reader: CoreReader, session_id: str) -> tuple[Session | None, list[dict[str, Any]], WorkerFacts]:
    """The session (``None`` once deleted), its history (newest first) and its worker's facts."""
    session = await reader.store.find(session_id)
    facts = WorkerFacts(
        await reader.start_due_at(session_id),
        await reader.recent_restarts(session_id),
        reader.worker_log(session_id),
        await reader.account_health.report(session_id),
    )
    return session, await reader.store.history(session_id) if session else [], facts


def trouble(session: Session, facts: WorkerFacts) -> str:
    """Below the status while the session is not working: what to check (if known), where the log is."""
    if session.status in WORKING:
        return ""
    check = f"\n\nHint: {session.hint}" if session.hint else ""
    return f"{check}\n\nThe worker's log: {facts.log}"


def next_attempt(facts: WorkerFacts, now: float) -> str:
    """``next attempt in 4 s (restart 3; …)`` while a start of the worker is queued."""
    if facts.next_start is None:
        return ""
    left = int(facts.next_start - now + 0.999)
    when = f"in {left} s" if left > 0 else "now (its turn in the start queue)"
    restarts = (
        f" (restart {facts.recent_restarts}; more than {CRASH_LIMIT} in {CRASH_WINDOW_S // 60} min: failed)"
        if facts.recent_restarts
        else ""
    )
    return f"\nnext attempt {when}{restarts}"


def health_block(report: Report | None) -> str:
    """``health   72 (fair)`` and each part that takes points away, with what it saw."""
    if report is None:
        return ""
    taken = [f"\n  -{part.penalty:<2} {part.name}: {part.detail}" for part in report.parts if part.penalty]
    return f"\nhealth   {report.score} ({report.grade})" + "".join(taken)


def too_small(screen: Size, code: Size) -> str:
    """Why the QR code is not drawn, and what to do instead."""
    needed = Size(code.width + SIDE_WIDTH, code.height + CHROME_LINES)
    return (
        f"The terminal ({screen.width}×{screen.height}) is too small for the QR code (it needs at least "
        f"{needed.width}×{needed.height}). Enlarge the window, or pair with a pairing code instead: press c "
        "(WhatsApp → Linked devices → Link with phone number)."
    )


def countdown(expires: float, now: float) -> str:
    """``Expires in 17 s.`` at ``now`` (or that it expired and the next code is awaited)."""
    left = int(expires - now)
    return f"Expires in {left} s." if left > 0 else "Expired; waiting for the next code."


def summary(session: Session) -> str:
    """The session's facts, one per line."""
    lines = [
        f"id       {session.id}",
        f"status   {session.status}",
        f"phone    {session.phone or '-'}",
        f"restarts {session.restarts}",
        f"paused   {'yes' if session.paused else 'no'}",
    ]
    if session.reason:
        lines.append(f"reason   {session.reason}")
    if session.breaker_until:
        until = datetime.fromtimestamp(session.breaker_until).strftime("%H:%M")
        lines.append(f"breaker  tripped ({session.breaker_reason}): holds until {until}; p resumes")
    return "\n".join(lines)
