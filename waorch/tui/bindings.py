"""Key bindings shared by the screens, and the help table listing every key.

One key, one meaning: a key does the same on every screen that has it (tests/tui/test_keys.py
holds every screen's bindings against each other). The few keys that mean "this screen's own
thing" are listed in ``CONTEXTUAL``. Each footer shows what fits in 80 columns; ``?`` lists all.
"""

from __future__ import annotations

from textual.binding import Binding

HELP = Binding("question_mark", "app.help", "Help", key_display="?")
QUIT = Binding("q", "app.request_quit", "Quit")  # the panes: quit (asks first when the core runs here)
BACK = Binding("escape,q", "app.pop_screen", "Back")  # a session's screens: back to where they were opened

# Session actions (implemented by the app), on the sessions table, the session and its queue.
SESSION_ACTIONS = (
    ("r", "app.restart", "Restart"),
    ("ctrl+d", "app.delete", "Delete"),
    ("l", "app.logout", "Logout"),
    ("p", "app.pause", "Pause/resume"),
    ("u", "app.queue", "Queue"),
    ("m", "app.send_test", "Message"),
    ("t", "app.pin_tier", "Pin tier"),
)


def session_bindings(*shown: str) -> list[Binding]:
    """Every session action; those whose keys are ``shown`` also in the footer."""
    return [Binding(key, action, label, show=key in shown) for key, action, label in SESSION_ACTIONS]


# The panes, on every full screen: a pane's key goes to it as it was left (each pane keeps its own
# stack: 1 goes back to the session last open); pressed in that pane, to its first screen.
PANES = (("1", "sessions", "Sessions"), ("2", "proxies", "Proxies"), ("3", "tiers", "Tiers"), ("4", "log", "Log"))
PANE_BINDINGS = [
    Binding(key, f"app.pane('{mode}')", label, group=Binding.Group("Panes", compact=True)) for key, mode, label in PANES
]

# Keys whose action is the screen's own, and what they mean wherever they are.
CONTEXTUAL = {
    "escape": "back, clear the filter, or close the dialog",
    "q": "quit from a pane; back from a session or its queue; close the help",
    "ctrl+d": "delete what is under the cursor (asks first)",
}

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
    ("1 2 3 4", "panes: sessions, proxies, trust tiers, log (again: the pane's first screen)"),
    ("a", "proxies / tiers pane: add a proxy / a tier"),
    ("ctrl+d", "proxies / tiers pane: remove the proxy / tier (asks first)"),
    ("enter, e", "tiers pane: edit the tier (checked before saving; in effect at once)"),
    ("/", "log pane: filter the lines (escape clears)"),
    ("end", "log pane: follow new lines again (scrolling up stops following)"),
    ("b", "log pane: take a backup now (the command palette lists the backups)"),
    ("ctrl+p", "command palette (every action)"),
    ("?", "this help"),
    ("q", "quit from a pane (asks first when the core runs here); back from a session or queue"),
    ("ctrl+q", "quit at once (workers keep running)"),
]
