"""Every form of the control room: labelled inputs, checked here and then by the server, kept open
with what was typed until the server accepts them; a refusal shows in the form, in its own words."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import redis.asyncio as aioredis
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from waorch.errors import WaorchError

if TYPE_CHECKING:
    from waorch.tui.app import ControlRoom

T = TypeVar("T")
R = TypeVar("R")
Values = dict[str, str]
FieldKind = Literal["text", "integer", "number"]  # what a field's input accepts
log = logging.getLogger("waorch.tui")
LABEL_END = re.compile(r" \(|; ")  # a label's own words end where its explanation begins


@dataclass(frozen=True)
class Field:
    """One input of a form: ``name`` is its id, its key in the values and the name the server's
    messages use for it; ``label`` says what it is (its words up to a bracket name it in messages)."""

    name: str
    label: str
    value: str = ""
    placeholder: str = ""
    password: bool = False
    kind: FieldKind = "text"

    @property
    def term(self) -> str:
        """How the form's messages name the field (``Active until`` for ``Active until (HH:MM, local)``)."""
        return LABEL_END.split(self.label, maxsplit=1)[0]


def as_is(values: Values) -> Values:
    """The default check: the stripped values, unchanged."""
    return values


def failure_text(error: BaseException, what: str) -> str:
    """What a failed action says, in a notice or in a form (anything but our own errors is logged)."""
    if isinstance(error, WaorchError):
        return error.message
    if isinstance(error, aioredis.RedisError | OSError):
        log.warning("%s failed: %s", what, error)
        return "Redis is unreachable; nothing was changed."
    log.error("%s failed", what, exc_info=error)
    return "Unexpected error; details in waorch.log."


def in_own_words(message: str, fields: list[Field], subject: str = "") -> str:
    """A server's message about the form's values, naming fields by their labels: an API name written
    like code (``hoursEnd``) wherever it appears, a plain one (``to``) where it begins the message;
    ``subject``, the server's name for what the form edits (``tiers[2]: ``), goes."""
    message = message.removeprefix(subject)
    for field in fields:
        anywhere = field.name != field.name.lower()
        message = re.sub(rf"{'' if anywhere else '^'}\b{re.escape(field.name)}\b", field.term, message)
    return message[:1].upper() + message[1:]


class Form(ModalScreen[R | None], Generic[T, R]):
    """A form: ``check`` turns the values into a request (a ``WaorchError`` from it is shown, the form
    stays open); ``act`` sends the request (run to its end even if the form closes); the form closes
    with its answer, or shows the refusal and keeps what was typed."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    app: ControlRoom

    def __init__(
        self,
        title: str,
        fields: list[Field],
        submit: str,
        act: Callable[[T], Awaitable[R]],
        *,
        # without ``check``, T is Values (``as_is``): a default cannot say so to mypy
        check: Callable[[Values], T] = as_is,  # type: ignore[assignment]
        subject: str = "",
    ) -> None:
        super().__init__(classes="form")
        self.title_text = title
        self.fields = fields
        self.submit_label = submit
        self.check = check
        self.act = act
        self.subject = subject

    def compose(self) -> ComposeResult:
        """Title, one labelled input per field, the problem line, buttons."""
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            with VerticalScroll(classes="fields", can_focus=False):
                for field in self.fields:
                    yield Label(field.label)
                    yield Input(
                        field.value,
                        placeholder=field.placeholder,
                        id=field.name,
                        password=field.password,
                        type=field.kind,
                    )
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
        """Check the values, then send them (once at a time)."""
        try:
            request = self.check(self.values)
        except WaorchError as error:
            self.show_problem(error.message)
            return
        self.query_one("#ok", Button).disabled = True
        self.query_one("#problem", Static).update("…")
        self.run_worker(self._send(request), group="form", exclusive=True)

    async def _send(self, request: T) -> None:
        try:
            answer = await self.app.call(self.act(request))
        except Exception as error:
            self.query_one("#ok", Button).disabled = False
            self.show_problem(failure_text(error, self.title_text))
            return
        self.dismiss(answer)

    def show_problem(self, message: str) -> None:
        """Say in the form what is wrong, naming the fields as the form does."""
        self.query_one("#problem", Static).update(in_own_words(message, self.fields, self.subject))

    def action_cancel(self) -> None:
        """Close without a result."""
        self.dismiss(None)


def done_with(follow_up: Callable[[Any], None]) -> Callable[[Any], None]:
    """A form's callback that runs ``follow_up`` with its answer (nothing if it was cancelled)."""

    def done(answer: Any) -> None:
        if answer is not None:
            follow_up(answer)

    return done
