"""The one-line title bar: ``title — sub_title``, repainted in place when either changes.

Textual's ``Header`` re-lays-out the whole screen whenever its text changes (its title is a
``Static``). The sessions screen changes its sub-title (the counts by status) whenever a session
changes status, so at fleet scale that was a full layout several times a second; this bar only
repaints its own line.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget


class TitleBar(Widget):
    """App title and screen sub-title, centred on one line docked at the top."""

    DEFAULT_CSS = """
    TitleBar {
        dock: top;
        width: 100%;
        height: 1;
        background: $panel;
        color: $foreground;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def on_mount(self) -> None:
        """Repaint when the app's or the screen's title changes."""
        for owner in (self.app, self.screen):
            self.watch(owner, "title", self._changed, init=False)
            self.watch(owner, "sub_title", self._changed, init=False)

    def _changed(self) -> None:
        self.refresh()

    def render(self) -> Text:
        """``title — sub_title`` (the screen's own, else the app's)."""
        title = self.screen.title or self.app.title
        sub_title = self.screen.sub_title or self.app.sub_title
        text = Text(title, justify="center", no_wrap=True, overflow="ellipsis")
        if sub_title:
            text.append(" — ", style="dim").append(sub_title, style="dim")
        return text
