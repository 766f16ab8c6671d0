"""Key bindings shared by the screens, and the help table listing every key."""

from __future__ import annotations

from textual.binding import Binding

# Session actions, on the sessions screen and the detail screen (implemented by the app).
SESSION_BINDINGS = [
    Binding("r", "app.restart", "Restart"),
    Binding("ctrl+d", "app.delete", "Delete"),
    Binding("l", "app.logout", "Logout"),
    Binding("p", "app.pause", "Pause/resume"),
    Binding("u", "app.queue", "Queue"),
    Binding("m", "app.send_test", "Message", show=False),
    Binding("t", "app.pin_tier", "Pin tier", show=False),
    Binding("question_mark", "app.help", "Help", key_display="?"),
]

# The panes, on every full screen (each pane keeps its own stack: 1 goes back to the session last open).
PANES = (("1", "sessions", "Sessions"), ("2", "proxies", "Proxies"), ("3", "tiers", "Tiers"), ("4", "log", "Log"))
PANE_BINDINGS = [Binding(key, f"app.switch_mode('{mode}')", label, group=Binding.Group("Panes", compact=True))
                 for key, mode, label in PANES]

# Every key, for the help screen (the footer shows the most used ones).
KEYS = [
    ("n", "provision a session (phone and proxy optional)"),
    ("enter", "open the session under the cursor (QR code, history)"),
    ("r", "restart the session's worker"),
    ("ctrl+d", "delete the session (asks first)"),
    ("l", "log the session out of WhatsApp (asks first)"),
    ("p", "pause / resume the session's sending queue"),
    ("u", "the session's queue: head messages, next send, usage against its tier"),
    ("m", "send a test message from the session"),
    ("t", "pin the session to a trust tier (empty: by its age)"),
    ("c", "pairing code instead of the QR code (session screen)"),
    ("/", "filter the table (escape clears)"),
    ("s", "sort by the next column"),
    ("escape", "back from a session / close a dialog"),
    ("1 2 3 4", "panes: sessions, proxies, trust tiers, log"),
    ("a", "proxies / tiers pane: add a proxy / a tier"),
    ("ctrl+d", "proxies / tiers pane: remove the proxy / tier (asks first)"),
    ("enter, e", "tiers pane: edit the tier (checked before saving; in effect at once)"),
    ("/", "log pane: filter the lines (escape clears)"),
    ("end", "log pane: follow new lines again (scrolling up stops following)"),
    ("ctrl+p", "command palette (every action)"),
    ("?", "this help"),
    ("ctrl+q", "quit (workers keep running)"),
]

# Only in `waorch demo` (the session screen's `s`; on the sessions table `s` sorts).
DEMO_KEYS = [("s", "session screen: a simulated phone scans the QR code (waorch demo only)")]
