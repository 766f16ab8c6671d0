"""A table that draws only the rows on screen: thousands of rows, updated twice a second, cheaply.

Textual's ``DataTable`` re-renders every visible cell through Rich whenever any cell changes and
removes/adds rows one by one, which costs hundreds of milliseconds per refresh at 500 rows. Here
the rows are plain tuples of strings held in a list: replacing them all is a list assignment,
filtering and sorting are done by the caller in Python, and a frame builds one strip per visible
line from ready-made segments. The cursor follows its row's key, not its index.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

Column = tuple[str, str, int]  # key, label, width
Row = tuple[str, tuple[str, ...]]  # key, cell texts in column order
CellStyle = Callable[[str, str], str | None]  # (column key, text) → a Rich style, or None


class VirtualTable(ScrollView, can_focus=True):
    """Fixed-width columns, one header line, a row cursor kept on its key across updates."""

    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
    ]
    COMPONENT_CLASSES = {"virtual-table--header", "virtual-table--cursor", "virtual-table--even-row"}
    DEFAULT_CSS = """
    VirtualTable {
        background: $surface;
        color: $foreground;
        & > .virtual-table--header { text-style: bold; background: $panel; color: $foreground; }
        & > .virtual-table--even-row { background: $surface-lighten-1 50%; }
        & > .virtual-table--cursor {
            background: $block-cursor-blurred-background; color: $block-cursor-blurred-foreground;
        }
        &:focus > .virtual-table--cursor {
            background: $block-cursor-background; color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """

    cursor_row: reactive[int] = reactive(0, always_update=True, repaint=False)  # the watcher redraws two lines

    class RowSelected(Message):
        """Enter (or a click on the cursor's row) on a row."""

        def __init__(self, table: VirtualTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> VirtualTable:
            """The table the row belongs to (for ``@on`` selectors)."""
            return self.table

    def __init__(
        self, columns: Sequence[Column], cell_style: CellStyle | None = None, *, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.columns = tuple(columns)
        self._cell_style = cell_style
        self._rows: list[Row] = []
        self._index: dict[str, int] = {}
        self._width = sum(width + 1 for _, _, width in self.columns)
        self._column_index = {key: n for n, (key, _, _) in enumerate(self.columns)}

    # ---- data ------------------------------------------------------------------------------------

    def show(self, rows: list[Row]) -> None:
        """Show exactly ``rows``, in this order; the cursor stays on its row's key if still shown."""
        anchor, before = self.selected_key, self._rows
        self._rows = rows
        self._index = {key: n for n, (key, _) in enumerate(rows)}
        if len(rows) != len(before) or not self.virtual_size.height:  # a new size means a new layout
            self.virtual_size = Size(self._width, len(rows) + 1)
        position = self._index.get(anchor, self.cursor_row) if anchor is not None else self.cursor_row
        self.cursor_row = max(0, min(position, len(rows) - 1))
        self._refresh_changed(before)

    def _refresh_changed(self, before: list[Row]) -> None:
        """Redraw only the visible lines whose row changed (a frame then re-renders just those)."""
        top = int(self.scroll_offset.y)
        for row in range(top, top + max(0, self.size.height - 1)):
            if (before[row] if row < len(before) else None) != (self._rows[row] if row < len(self._rows) else None):
                self.refresh_line(row + 1)

    @property
    def row_count(self) -> int:
        """Rows shown."""
        return len(self._rows)

    @property
    def rows(self) -> dict[str, tuple[str, ...]]:
        """Key → cell texts of every row shown."""
        return dict(self._rows)

    @property
    def selected_key(self) -> str | None:
        """Key of the row under the cursor, if any."""
        return self._rows[self.cursor_row][0] if 0 <= self.cursor_row < len(self._rows) else None

    def key_at(self, index: int) -> str:
        """Key of the row at ``index``."""
        return self._rows[index][0]

    def get_row_at(self, index: int) -> tuple[str, ...]:
        """Cell texts of the row at ``index``."""
        return self._rows[index][1]

    def get_row_index(self, key: str) -> int:
        """Position of the row with ``key`` (``KeyError`` if not shown)."""
        return self._index[key]

    def get_cell(self, key: str, column: str) -> str:
        """Text of one cell."""
        return self._rows[self._index[key]][1][self._column_index[column]]

    def move_cursor(self, *, row: int) -> None:
        """Put the cursor on row ``row``."""
        self.cursor_row = max(0, min(row, len(self._rows) - 1))

    # ---- cursor ----------------------------------------------------------------------------------

    def watch_cursor_row(self, old: int, row: int) -> None:
        """Keep the cursor's row on screen; redraw the two lines it left and reached."""
        visible = max(1, self.size.height - 1)
        top = int(self.scroll_offset.y)
        if row < top:
            self.scroll_to(y=row, animate=False)
        elif row >= top + visible:
            self.scroll_to(y=row - visible + 1, animate=False)
        else:
            self.refresh_line(old + 1)
            self.refresh_line(row + 1)

    def action_cursor(self, step: int) -> None:
        """Move the cursor ``step`` rows."""
        self.move_cursor(row=self.cursor_row + step)

    def action_page(self, direction: int) -> None:
        """Move the cursor a screenful."""
        self.move_cursor(row=self.cursor_row + direction * max(1, self.size.height - 2))

    def action_jump(self, row: int) -> None:
        """First (0) or last (-1) row."""
        self.move_cursor(row=row if row >= 0 else len(self._rows) - 1)

    def action_select(self) -> None:
        """Tell the screen which row was chosen."""
        if (key := self.selected_key) is not None:
            self.post_message(self.RowSelected(self, key))

    def on_click(self, event: Click) -> None:
        """A click moves the cursor; a click on the cursor's row selects it."""
        row = int(self.scroll_offset.y) + event.y - 1
        if 0 <= row < len(self._rows) and event.y > 0:
            if row == self.cursor_row:
                self.action_select()
            self.move_cursor(row=row)

    # ---- drawing ---------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        """The header on the first line, then the rows from the scroll position."""
        scroll_x, scroll_y = self.scroll_offset
        if y == 0:
            strip = self._strip(tuple(label for _, label, _ in self.columns), "virtual-table--header", header=True)
        else:
            row = int(scroll_y) + y - 1
            if row >= len(self._rows):
                return Strip.blank(self.size.width, self.rich_style)
            role = "virtual-table--cursor" if row == self.cursor_row else ("virtual-table--even-row" if row % 2 else "")
            strip = self._strip(self._rows[row][1], role)
        return strip.crop(int(scroll_x), int(scroll_x) + self.size.width).extend_cell_length(
            self.size.width, self.rich_style
        )

    def _strip(self, cells: tuple[str, ...], role: str, header: bool = False) -> Strip:
        base = self.rich_style + (self.get_component_rich_style(role) if role else Style())
        segments = []
        for (key, _, width), text in zip(self.columns, cells, strict=True):
            own = None if header or self._cell_style is None else self._cell_style(key, text)
            style = base + Style.parse(own) if own and role != "virtual-table--cursor" else base
            segments.append(Segment(" " + text[:width].ljust(width), style))
        return Strip(segments, self._width)
