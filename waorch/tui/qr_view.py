"""A QR code drawn with half blocks, black on white whatever the theme."""

from __future__ import annotations

import qrcode
from qrcode.constants import ERROR_CORRECT_L
from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget

STANDARD_BORDER = 4  # quiet zone, in modules
MINIMUM_BORDER = 1
# Two vertically stacked modules per cell: (top dark, bottom dark) → character.
HALF_BLOCKS = {(True, True): "█", (True, False): "▀", (False, True): "▄", (False, False): " "}


def qr_matrix(payload: str, border: int = STANDARD_BORDER) -> list[list[bool]]:
    """The modules of ``payload`` (True = dark), with a quiet zone of ``border`` modules."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_L, border=border)
    code.add_data(payload)
    code.make(fit=True)
    return code.get_matrix()


def half_block_lines(matrix: list[list[bool]]) -> list[str]:
    """Two module rows per text line (an odd last row is paired with a light one)."""
    lines = []
    for top in range(0, len(matrix), 2):
        upper = matrix[top]
        lower = matrix[top + 1] if top + 1 < len(matrix) else [False] * len(upper)
        lines.append("".join(HALF_BLOCKS[pair] for pair in zip(upper, lower, strict=True)))
    return lines


class QRView(Widget):
    """Shows one QR payload; ``show`` replaces it in place. Picks the widest quiet zone that fits."""

    DEFAULT_CSS = """
    QRView { width: auto; height: auto; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.payload = ""
        self._lines: list[str] = []

    def show(self, payload: str, room: Size) -> bool:
        """Draw ``payload`` if it fits in ``room`` (with the standard quiet zone if possible); False if not."""
        if payload == self.payload and self._lines and fits(self._lines, room):
            return True
        for border in (STANDARD_BORDER, MINIMUM_BORDER):
            lines = half_block_lines(qr_matrix(payload, border))
            if fits(lines, room):
                self.payload, self._lines = payload, lines
                self.refresh(layout=True)
                return True
        self.payload, self._lines = "", []
        self.refresh(layout=True)
        return False

    def get_content_width(self, container: Size, viewport: Size) -> int:
        """As wide as the code."""
        return len(self._lines[0]) if self._lines else 0

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """As tall as the code."""
        return len(self._lines)

    def render(self) -> Text:
        """The code, dark modules black on a white ground."""
        return Text("\n".join(self._lines), style="#000000 on #ffffff", no_wrap=True, end="")


def smallest_size(payload: str) -> Size:
    """Columns × lines of ``payload`` drawn with the minimum quiet zone."""
    lines = half_block_lines(qr_matrix(payload, MINIMUM_BORDER))
    return Size(len(lines[0]), len(lines))


def fits(lines: list[str], room: Size) -> bool:
    """Whether ``lines`` fit in ``room``."""
    return bool(lines) and len(lines[0]) <= room.width and len(lines) <= room.height
