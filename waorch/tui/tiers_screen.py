"""The trust-tier pane: the live table; edit, add or remove a tier (checked like the API checks it)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.widgets import DataTable, Footer

from waorch.api.tiers import tier_json, tiers_from_json
from waorch.control import Control
from waorch.core.reader import CoreReader
from waorch.core.tiers import Tier
from waorch.errors import InvalidTiers
from waorch.tui.bindings import HELP, PANE_BINDINGS, QUIT
from waorch.tui.forms import Field, FieldKind, Form, Values
from waorch.tui.live_pane import LivePane
from waorch.tui.live_table import Cell, LiveTable
from waorch.tui.modals import Confirm
from waorch.tui.title_bar import TitleBar

TierRow = dict[str, Any]  # a tier in its API shape (camelCase)
COLUMNS = (
    ("name", "tier", 10),
    ("age", "from day", 8),
    ("daily", "per day", 7),
    ("minute", "per min", 7),
    ("gap", "gap (ms)", 11),
    ("hours", "active hours", 12),
    ("new", "new/day", 7),
    ("recipient", "1 rcpt h/day", 12),
)
# name, label, input kind
FIELDS: tuple[tuple[str, str, FieldKind], ...] = (
    ("name", "Name (lowercase letters, digits, - or _)", "text"),
    ("minAgeDays", "From age (days since first connected; the first tier: 0)", "number"),
    ("dailyLimit", "Messages a day", "integer"),
    ("perMinute", "Messages a minute", "integer"),
    ("delayMinMs", "Shortest gap between messages (ms)", "integer"),
    ("delayMaxMs", "Longest gap between messages (ms)", "integer"),
    ("hoursStart", "Active from (HH:MM, local)", "text"),
    ("hoursEnd", "Active until (HH:MM, local)", "text"),
    ("newContactsPerDay", "New contacts a day (never written to, never wrote)", "integer"),
    ("perRecipientPerHour", "Messages to one recipient an hour", "integer"),
    ("perRecipientPerDay", "Messages to one recipient in 24 hours", "integer"),
)


def tier_cells(tier: TierRow) -> tuple[Cell, ...]:
    """A tier as a row."""
    age = tier["minAgeDays"]
    return (
        tier["name"],
        f"{age:g}",
        str(tier["dailyLimit"]),
        str(tier["perMinute"]),
        f"{tier['delayMinMs']}-{tier['delayMaxMs']}",
        f"{tier['hoursStart']}-{tier['hoursEnd']}",
        str(tier["newContactsPerDay"]),
        f"{tier['perRecipientPerHour']}/{tier['perRecipientPerDay']}",
    )


def tier_from(values: Values) -> TierRow:
    """A tier from the form's texts (numbers converted; an empty field is left out, so it is reported missing)."""
    tier: TierRow = {}
    for name, label, kind in FIELDS:
        text = values.get(name, "")
        if not text:
            continue
        try:
            tier[name] = text if kind == "text" else int(text) if kind == "integer" else _number(text)
        except ValueError:
            raise InvalidTiers(f"{label}: {text!r} is not a number") from None
    return tier


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def edited(tiers: list[TierRow], index: int, values: Values) -> list[TierRow]:
    """The whole table with tier ``index`` replaced (or added at the end), checked as the API checks it."""
    table = [*tiers[:index], tier_from(values), *tiers[index + 1 :]]
    return checked(table)


def checked(table: list[TierRow]) -> list[TierRow]:
    """The table if valid (``INVALID_TIERS`` with the API's message otherwise)."""
    return [tier_json(tier) for tier in tiers_from_json(table)]


class TiersScreen(LivePane[tuple[Tier, ...]]):
    """The tier table the dispatcher uses before every send."""

    BINDINGS = [
        *PANE_BINDINGS,
        Binding("e", "edit", "Edit"),
        Binding("a", "add", "Add tier"),
        Binding("ctrl+d", "remove", "Remove tier"),
        HELP,
        QUIT,
    ]

    def __init__(self) -> None:
        super().__init__()
        self.tiers: list[TierRow] = []

    def compose(self) -> ComposeResult:
        """Header, table, footer."""
        yield TitleBar()
        yield LiveTable(COLUMNS, id="tiers")
        yield Footer()

    @property
    def selected_index(self) -> int | None:
        """Position of the tier under the cursor."""
        key = self.query_one(LiveTable).selected_key
        return int(key) if key is not None and int(key) < len(self.tiers) else None

    async def read(self, reader: CoreReader) -> tuple[Tier, ...]:
        """The live table."""
        return await reader.tiers.all()

    def show(self, data: tuple[Tier, ...]) -> None:
        """Update the rows."""
        self.tiers = [tier_json(tier) for tier in data]
        self.query_one(LiveTable).apply({str(index): tier_cells(tier) for index, tier in enumerate(self.tiers)})
        self.sub_title = "trust tiers: a session gets the last tier its age reaches (unless pinned)"

    @on(DataTable.RowSelected, "#tiers")
    def row_chosen(self) -> None:
        """Enter edits the tier."""
        self.action_edit()

    def action_edit(self) -> None:
        """Edit the tier under the cursor."""
        index = self.selected_index
        if index is None:
            self.notify("No tier selected to edit.", severity="warning")
        else:
            self._open_form(f"Edit tier {self.tiers[index]['name']}", index, self.tiers[index])

    def action_add(self) -> None:
        """Add a tier after the last one."""
        last = self.tiers[-1] if self.tiers else {}
        self._open_form("Add a tier", len(self.tiers), {**last, "name": "", "minAgeDays": ""})

    def _open_form(self, title: str, index: int, start: TierRow) -> None:
        control = self.app._allowed("editing the trust tiers")
        if control is None:
            return
        fields = [Field(name, label, str(start.get(name, "")), kind=kind) for name, label, kind in FIELDS]
        form = Form(
            title,
            fields,
            "Save",
            partial(self._save, control),
            check=partial(edited, list(self.tiers), index),
            subject=f"tiers[{index}]: ",
        )
        self.app.push_screen(form)

    def action_remove(self) -> None:
        """Remove the tier under the cursor (after confirmation; the rest must still be a valid table)."""
        control = self.app._allowed("editing the trust tiers")
        index = self.selected_index
        if control is None or index is None:
            return
        try:
            table = checked([tier for position, tier in enumerate(self.tiers) if position != index])
        except InvalidTiers as error:
            self.notify(error.message, title=f"Tier {self.tiers[index]['name']} cannot be removed", severity="error")
            return
        question = f"Remove trust tier {self.tiers[index]['name']}? Its sessions move to the tier their age reaches."
        self.app.push_screen(
            Confirm(question, "Remove"),
            partial(self.app._confirmed, "Saving the trust tiers", partial(self._save, control, table)),
        )

    async def _save(self, control: Control, table: list[TierRow]) -> None:
        saved = await control.replace_tiers(tiers_from_json(table))
        self.notify(f"Trust tiers saved ({', '.join(tier.name for tier in saved)}); in effect now.")

    def commands(self) -> Iterable[SystemCommand]:
        """This pane's actions, for the command palette."""
        yield SystemCommand("Add a trust tier", "A new tier after the last one", self.action_add)
        if (index := self.selected_index) is not None:
            name = self.tiers[index]["name"]
            yield SystemCommand(f"Edit trust tier {name}", "Change its limits (in effect at once)", self.action_edit)
            yield SystemCommand(f"Remove trust tier {name}", "Remove it (asks first)", self.action_remove)
