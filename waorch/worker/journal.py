"""The worker's send journal: what it attempted and what came of it, kept in its auth dir.

Written before and after every send, it lets the orchestrator settle a send whose outcome it
lost (a crash, a timeout): ``sent`` or ``failed`` are facts; ``attempt`` without an outcome means
the send may or may not have gone out (``unknown``, never repeated); no entry means it never
started (safe to try again). A send for a message id already in the journal is not repeated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from waorch.worker.durable import append_synced, replace_synced

JOURNAL_FILE = "send-journal.jsonl"
KEEP = 20_000


class SendJournal:
    """Append-only JSON lines, loaded at start, compacted when long."""

    def __init__(self, auth_dir: Path) -> None:
        self.path = auth_dir / JOURNAL_FILE
        self._entries: dict[str, dict[str, Any]] = {}
        self._lines = 0
        if self.path.exists():
            content = self.path.read_text()
            for line in content.splitlines():
                self._apply(line)
            if content and not content.endswith("\n"):  # torn by a crash: the next entry must start a line
                self._compact()

    def _apply(self, line: str) -> None:
        try:
            entry = json.loads(line)
            self._entries[str(entry["id"])] = entry
            self._lines += 1
        except (ValueError, KeyError, TypeError):
            pass  # a torn last line after a crash

    def lookup(self, message_id: str) -> dict[str, Any] | None:
        """The latest entry for a message id (``state``: attempt, sent, failed)."""
        return self._entries.get(message_id)

    def record(self, message_id: str, state: str, **details: Any) -> None:
        """Append an entry and flush it to disk before returning."""
        entry = {"id": message_id, "state": state, **details}
        self._entries[message_id] = entry
        append_synced(self.path, (json.dumps(entry) + "\n").encode())
        self._lines += 1
        if self._lines > 2 * KEEP:
            self._compact()

    def _compact(self) -> None:
        """Keep the newest ``KEEP`` entries. The new file and its rename are on disk before it returns:
        else a power cut could bring the old file back without the entries appended since, and a
        send recorded only there could be repeated."""
        keep = list(self._entries.values())[-KEEP:]
        self._entries = {entry["id"]: entry for entry in keep}
        replace_synced(self.path, "".join(json.dumps(entry) + "\n" for entry in keep).encode())
        self._lines = len(keep)
