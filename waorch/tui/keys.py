"""Key bindings shared by the screens, and the help table listing every key."""

from __future__ import annotations

from textual.binding import Binding

# Session actions, on the sessions screen and the detail screen (implemented by the app).
SESSION_BINDINGS = [
    Binding("r", "app.restart", "Restart"),
    Binding("ctrl+d", "app.delete", "Delete"),
    Binding("l", "app.logout", "Logout"),
    Binding("p", "app.pause", "Pause/resume"),
    Binding("question_mark", "app.help", "Help", key_display="?"),
]

# Every key, for the help screen (the footer shows the most used ones).
KEYS = [
    ("n", "provision a session (phone and proxy optional)"),
    ("enter", "open the session under the cursor (QR code, history)"),
    ("r", "restart the session's worker"),
    ("ctrl+d", "delete the session (asks first)"),
    ("l", "log the session out of WhatsApp (asks first)"),
    ("p", "pause / resume the session's sending queue"),
    ("c", "pairing code instead of the QR code (session screen)"),
    ("/", "filter the table (escape clears)"),
    ("s", "sort by the next column"),
    ("escape", "back from a session / close a dialog"),
    ("ctrl+p", "command palette (every action)"),
    ("?", "this help"),
    ("ctrl+q", "quit (workers keep running)"),
]

# Only in `waorch demo` (the session screen's `s`; on the sessions table `s` sorts).
DEMO_KEYS = [("s", "session screen: a simulated phone scans the QR code (waorch demo only)")]
