"""Modal dialogs: the provisioning form, confirmations, and the key help."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


@dataclass(frozen=True)
class ProvisionRequest:
    """What the form asked for; empty strings mean "choose for me"."""

    phone: str
    proxy: str


class ProvisionForm(ModalScreen[ProvisionRequest | None]):
    """Phone and proxy, both optional; dismissed with the request, or ``None`` on cancel."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        """The form."""
        with Vertical(classes="dialog"):
            yield Label("Provision a session", classes="dialog-title")
            yield Label("Phone (optional, international format)")
            yield Input(placeholder="+972501234567", id="phone")
            yield Label("Proxy (optional; socks5h://user:pass@host:port, else one from the pool)")
            yield Input(placeholder="socks5h://host:port", id="proxy", password=True)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Provision", id="ok", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Provision or cancel."""
        if event.button.id == "ok":
            self._submit()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in either field submits the form."""
        self._submit()

    def action_cancel(self) -> None:
        """Close without provisioning."""
        self.dismiss(None)

    def _submit(self) -> None:
        self.dismiss(ProvisionRequest(self.query_one("#phone", Input).value.strip(),
                                      self.query_one("#proxy", Input).value.strip()))


class PairingForm(ModalScreen[str | None]):
    """The phone to link with a pairing code; dismissed with it, or ``None`` on cancel."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, session_id: str, phone: str) -> None:
        super().__init__()
        self.session_id = session_id
        self.phone = phone

    def compose(self) -> ComposeResult:
        """The form."""
        with Vertical(classes="dialog"):
            yield Label(f"Pairing code for {self.session_id}", classes="dialog-title")
            yield Label("Phone to link (international format); the code is entered on that phone")
            yield Input(self.phone, placeholder="+972501234567", id="phone")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Get code", id="ok", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Ask or cancel."""
        self.dismiss(self.query_one("#phone", Input).value.strip() if event.button.id == "ok" else None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter asks for the code."""
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        """Close without asking."""
        self.dismiss(None)


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


class Help(ModalScreen[None]):
    """Every key and what it does."""

    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        """The key table."""
        width = max(len(key) for key, _ in self.keys)
        text = "\n".join(f"{key.ljust(width)}  {description}" for key, description in self.keys)
        with Vertical(classes="dialog"):
            yield Label("Keys", classes="dialog-title")
            yield Static(text, id="keys")
            yield Label("escape closes", classes="hint")

    def action_close(self) -> None:
        """Back to where we were."""
        self.dismiss(None)
