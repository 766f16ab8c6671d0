"""A modal form of labelled inputs whose values are checked before it closes (the problem shown inline)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from waorch.errors import WaorchError

T = TypeVar("T")
Values = dict[str, str]


@dataclass(frozen=True)
class Field:
    """One input of a form (``name`` is its id and its key in the values)."""

    name: str
    label: str
    value: str = ""
    placeholder: str = ""
    password: bool = False
    kind: Literal["text", "integer", "number"] = "text"


def as_is(values: Values) -> Values:
    """The default check: the stripped values, unchanged."""
    return values


class Form(ModalScreen[T | None], Generic[T]):
    """Dismissed with ``check(values)``; a ``WaorchError`` from it is shown in the form, which stays open."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, fields: list[Field], submit: str,
                 check: Callable[[Values], T] = as_is) -> None:  # type: ignore[assignment]
        super().__init__(classes="form")
        self.title_text = title
        self.fields = fields
        self.submit_label = submit
        self.check = check

    def compose(self) -> ComposeResult:
        """Title, one labelled input per field, the problem line, buttons."""
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            with VerticalScroll(classes="fields", can_focus=False):
                for field in self.fields:
                    yield Label(field.label)
                    yield Input(field.value, placeholder=field.placeholder, id=field.name, password=field.password,
                                type=field.kind)
            yield Static("", id="problem", classes="problem")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(self.submit_label, id="ok", variant="primary")

    def on_mount(self) -> None:
        """Typing goes to the first field."""
        self.query(Input).first().focus()

    @property
    def values(self) -> Values:
        """Every field's stripped text."""
        return {field.name: self.query_one(f"#{field.name}", Input).value.strip() for field in self.fields}

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Submit or cancel."""
        if event.button.id == "ok":
            self.submit()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in any field submits the form."""
        event.stop()
        self.submit()

    def submit(self) -> None:
        """Close with the checked values, or show what is wrong and stay open."""
        try:
            result = self.check(self.values)
        except WaorchError as error:
            self.query_one("#problem", Static).update(error.message)
            return
        self.dismiss(result)

    def action_cancel(self) -> None:
        """Close without a result."""
        self.dismiss(None)
