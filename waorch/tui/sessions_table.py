"""The live sessions table: cells updated in place by diffing, the cursor anchored to its session."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

from waorch.tui.snapshot import COLUMNS, SessionRow, natural_key

STATUS_STYLES = {"connected": "green", "qr_ready": "yellow", "disconnected": "dark_orange",
                 "failed": "bold red", "logged_out": "red", "stopped": "dim"}


def styled(column: str, text: str) -> str | Text:
    """A cell as drawn: statuses in their colour, everything else plain."""
    return Text(text, style=STATUS_STYLES[text]) if column == "status" and text in STATUS_STYLES else text


class SessionsTable(DataTable[str | Text]):
    """One row per session (row key = session id); ``apply`` brings it up to date."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.sort_column: str | None = None
        self._shown: dict[str, tuple[str, ...]] = {}

    def on_mount(self) -> None:
        """Fixed-width columns (no width recomputation on every update)."""
        for key, label, width in COLUMNS:
            self.add_column(label, width=width, key=key)

    @property
    def selected_id(self) -> str | None:
        """Id of the session under the cursor, if any."""
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value

    def apply(self, rows: Iterable[SessionRow], now: float, filter_text: str = "") -> None:
        """Show ``rows`` (those matching ``filter_text``): add, remove and update only what changed."""
        anchor = self.selected_id
        wanted = {row.id: row.cells(now) for row in rows}
        if filter_text:
            needle = filter_text.lower()
            wanted = {sid: cells for sid, cells in wanted.items() if any(needle in cell.lower() for cell in cells)}
        changed = False
        for sid in [sid for sid in self._shown if sid not in wanted]:
            self.remove_row(sid)
            del self._shown[sid]
            changed = True
        for sid, cells in wanted.items():
            old = self._shown.get(sid)
            if old is None:
                self.add_row(*(styled(column, cell) for (column, _, _), cell in zip(COLUMNS, cells, strict=True)), key=sid)
                changed = True
            else:
                for (column, _, _), before, after in zip(COLUMNS, old, cells, strict=True):
                    if before != after:
                        self.update_cell(sid, column, styled(column, after))
                        changed = changed or column == self.sort_column
            self._shown[sid] = cells
        if changed and self.sort_column:
            self.sort(self.sort_column, key=sort_key)
        self._anchor(anchor)

    def sort_by(self, column: str | None) -> None:
        """Sort by a column key (``None``: by id, oldest first), keeping the cursor on its session."""
        anchor = self.selected_id
        self.sort_column = column
        self.sort(column or "id", key=sort_key)
        self._anchor(anchor)

    def _anchor(self, session_id: str | None) -> None:
        if session_id is not None and session_id in self._shown:
            index = self.get_row_index(RowKey(session_id))
            if index != self.cursor_row:
                self.move_cursor(row=index, animate=False)


def sort_key(cell: str | Text) -> tuple[tuple[int, int | str], ...]:
    """Natural order of a cell's text."""
    return natural_key(cell.plain if isinstance(cell, Text) else cell)
