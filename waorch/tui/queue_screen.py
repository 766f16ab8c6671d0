"""One session's sending queue: its head messages, when the next one goes, usage against its tier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from math import isinf

from textual.app import ComposeResult
from textual.widgets import Footer, Static

from waorch.core.messages import CHECK, Message
from waorch.core.pacing import Hold
from waorch.core.reader import CoreReader
from waorch.core.views import QueueView
from waorch.errors import SessionNotFound
from waorch.tui.bindings import BACK, HELP, PANE_BINDINGS, session_bindings
from waorch.tui.live_pane import LivePane
from waorch.tui.live_table import Cell, LiveTable
from waorch.tui.title_bar import TitleBar

HEAD_SHOWN = 10
TEXT_SHOWN = 60
COLUMNS = (
    ("id", "message", 16),
    ("to", "to", 15),
    ("status", "status", 8),
    ("tries", "tries", 5),
    ("held", "held until", 10),
    ("text", "text", 60),
)


@dataclass(frozen=True)
class QueueState:
    """What the pane shows: the core's queue view, the head messages and the clock's now."""

    view: QueueView
    head: list[Message]
    now: float


def message_cells(message: Message, held: Hold | None = None) -> tuple[Cell, ...]:
    """A waiting message as a row (its text on one line, trimmed; a number check says so); when a cap of its
    recipient holds it, until when (the summary says which cap)."""
    text = "(is this number on WhatsApp?)" if message.kind == CHECK else " ".join(message.text.split())
    until = (
        "-" if held is None else "no end" if isinf(held.at) else datetime.fromtimestamp(held.at).strftime("%H:%M:%S")
    )
    return (
        message.id,
        "+" + message.to,
        "held" if held else message.status,
        str(message.attempts),
        until,
        text if len(text) <= TEXT_SHOWN else text[: TEXT_SHOWN - 1] + "…",
    )


def held_line(view: QueueView) -> list[str]:
    """``held  2 for their recipients' caps (first: new-contact cap: ...)``, when any is."""
    if not view.held:
        return []
    first = next(iter(view.held.values()))
    return [f"held         {len(view.held)} for their recipients' caps (first: {first.text})"]


def next_send(view: QueueView, now: float) -> str:
    """``14:03:21 (in 12 s)``, or ``-``; then why it waits, if it does."""
    at, waiting = view.next_send_at, view.waiting
    why = f"\n             waiting: {waiting.text}" if waiting else ""
    if at is None:
        return "-" + why
    left = int(at - now)
    local = datetime.fromtimestamp(at).strftime("%H:%M:%S")
    return f"{local}  ({'now' if left <= 0 else f'in {left} s' if left < 120 else f'in {left // 60} min'})" + why


def summary(view: QueueView, now: float) -> str:
    """The queue's facts, one per line."""
    tier, today = view.tier, view.today
    return "\n".join(
        [
            f"sending      {'PAUSED (p resumes)' if view.paused else 'on (p pauses)'}",
            f"tier         {tier.name}   gap {tier.delay_min_ms}-{tier.delay_max_ms} ms, "
            f"hours {tier.hours_start}-{tier.hours_end}",
            f"queued       {view.depth}   in flight {len(view.inflight)}",
            f"next send    {next_send(view, now)}",
            f"this minute  {view.sent_last_minute} / {tier.per_minute}",
            f"today        sent {today.sent} + queued {today.queued} / {today.limit}   "
            f"failed {today.failed}   unknown {today.unknown}",
            f"new contacts {today.new_contacts} / {tier.new_contacts_per_day} today   "
            f"one recipient: {tier.per_recipient_hour} an hour, {tier.per_recipient_day} in 24 h",
            *held_line(view),
        ]
    )


class QueueScreen(LivePane[QueueState | None]):
    """Live view of one session's queue; the session actions apply to it (``p`` pauses / resumes)."""

    BINDINGS = [BACK, *session_bindings("r", "p"), HELP, *PANE_BINDINGS]

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id

    def compose(self) -> ComposeResult:
        """Header, summary, head messages, footer."""
        yield TitleBar()
        yield Static("", id="queue-summary")
        yield LiveTable(COLUMNS, id="queue-head")
        yield Footer()

    @property
    def selected_id(self) -> str:
        """The session the actions apply to."""
        return self.session_id

    async def read(self, reader: CoreReader) -> QueueState | None:
        """The queue view and the head messages (``None`` once the session is gone)."""
        try:
            view = await reader.queue_view(self.session_id)
        except SessionNotFound:
            return None
        return QueueState(view, await reader.messages.peek(self.session_id, HEAD_SHOWN), reader.clock.now())

    def show(self, data: QueueState | None) -> None:
        """Update the summary and the head."""
        self.sub_title = f"queue of {self.session_id}"
        if data is None:
            self.query_one("#queue-summary", Static).update(f"Session {self.session_id} no longer exists.")
            self.query_one(LiveTable).apply({})
            return
        self.query_one("#queue-summary", Static).update(summary(data.view, data.now))
        held = data.view.held
        self.query_one(LiveTable).apply({m.id: message_cells(m, held.get(m.id)) for m in data.head})
