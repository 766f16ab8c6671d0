"""A table of keyed rows brought up to date in place (changed cells only; the cursor stays on its row)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

Cell = str | Text
Column = tuple[str, str, int]  # key, label, width


class LiveTable(DataTable[Cell]):
    """Fixed-width columns; ``apply`` adds, removes and updates rows by key, in the given order."""

    def __init__(self, columns: tuple[Column, ...], *, id: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, id=id)
        self.columns_spec = columns
        self._shown: dict[str, tuple[Cell, ...]] = {}

    def on_mount(self) -> None:
        """Fixed-width columns (no width recomputation on every update)."""
        for key, label, width in self.columns_spec:
            self.add_column(label, width=width, key=key)

    @property
    def selected_key(self) -> str | None:
        """Key of the row under the cursor, if any."""
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value

    def apply(self, rows: dict[str, tuple[Cell, ...]]) -> None:
        """Show exactly ``rows`` (key → cells in column order), keeping the cursor on its row."""
        anchor = self.selected_key
        for key in [key for key in self._shown if key not in rows]:
            self.remove_row(key)
            del self._shown[key]
        for key, cells in rows.items():
            old = self._shown.get(key)
            if old is None:
                self.add_row(*cells, key=key)
            else:
                for (column, _, _), before, after in zip(self.columns_spec, old, cells, strict=True):
                    if before != after:
                        self.update_cell(key, column, after)
            self._shown[key] = cells
        if anchor in self._shown:
            index = self.get_row_index(RowKey(anchor))
            if index != self.cursor_row:
                self.move_cursor(row=index, animate=False)
