"""The live sessions table: filtered and sorted in Python, drawn by row (the cursor stays on its session)."""

from __future__ import annotations

from collections.abc import Iterable

from waorch.core.account_health import FAIR, GOOD
from waorch.tui.snapshot import COLUMNS, SessionRow, natural_key
from waorch.tui.virtual_table import VirtualTable

STATUS_STYLES = {
    "connected": "green",
    "qr_ready": "yellow",
    "disconnected": "dark_orange",
    "failed": "bold red",
    "logged_out": "red",
    "stopped": "dim",
}


def status_style(column: str, text: str) -> str | None:
    """Statuses in their colour, a fair health score yellow and a poor one red, everything else plain."""
    if column == "health" and text.isdigit():
        return None if int(text) >= GOOD else "yellow" if int(text) >= FAIR else "bold red"
    return STATUS_STYLES.get(text) if column == "status" else None


class SessionsTable(VirtualTable):
    """One row per session (key = session id); ``apply`` shows the latest rows."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(COLUMNS, cell_style=status_style, id=id)
        self.sort_column: str | None = None
        self._latest: list[tuple[str, tuple[str, ...]]] = []
        self._filter = ""

    @property
    def selected_id(self) -> str | None:
        """Id of the session under the cursor, if any."""
        return self.selected_key

    def apply(self, rows: Iterable[SessionRow], now: float, filter_text: str = "") -> None:
        """Show ``rows`` (those matching ``filter_text``), in the current sort order."""
        self._latest = [(row.id, row.cells(now)) for row in rows]
        self._filter = filter_text.lower()
        self._show()

    def sort_by(self, column: str | None) -> None:
        """Sort by a column key (``None``: by id, oldest first), keeping the cursor on its session."""
        self.sort_column = column
        self._show()

    def _show(self) -> None:
        shown = self._latest
        if self._filter:
            shown = [row for row in shown if any(self._filter in cell.lower() for cell in row[1])]
        index = self._column_index[self.sort_column or "id"]
        self.show(sorted(shown, key=lambda row: natural_key(row[1][index])))
