"""Modal dialogs: confirmations and the key help (forms are in :mod:`waorch.tui.forms`)."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

TOASTS = "#textual-toastrack"  # where Textual shows a screen's notices


class Confirm(ModalScreen[bool]):
    """A yes/no question about something destructive; Cancel has the focus."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, action: str) -> None:
        super().__init__()
        self.question = question
        self.action_label = action

    def compose(self) -> ComposeResult:
        """Question and buttons."""
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="dialog-title")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(self.action_label, id="ok", variant="error")

    def on_mount(self) -> None:
        """The safe choice is the default."""
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """True only for the action button."""
        self.dismiss(event.button.id == "ok")

    def action_cancel(self) -> None:
        """Escape cancels."""
        self.dismiss(False)


class ConfirmQuit(Confirm):
    """Quitting a room whose core stops with it: q again quits, escape (or Cancel) stays."""

    BINDINGS = [Binding("q", "quit_now", "Quit")]

    def action_quit_now(self) -> None:
        """The second q."""
        self.dismiss(True)


class Help(ModalScreen[None]):
    """Every key and what it does; notices wait while it is open (they would cover it)."""

    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        """The key table (it scrolls in a small terminal; a long description wraps in its column)."""
        table = Table.grid(padding=(0, 2))
        table.add_column(no_wrap=True)
        table.add_column()
        for key, description in self.keys:
            table.add_row(key, description)
        with Vertical(classes="dialog"):
            yield Label("Keys", classes="dialog-title")
            with VerticalScroll(id="keys-list"):
                yield Static(table, id="keys")
            yield Label("escape closes; the list scrolls", classes="hint")

    def on_mount(self) -> None:
        """No notices on this screen: those still due show again on the screen below when it closes."""
        self.query(TOASTS).remove()

    def action_close(self) -> None:
        """Back to where we were."""
        self.dismiss(None)
