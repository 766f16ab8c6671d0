"""The worker's send journal: what it attempted and what came of it, kept in its auth dir.

Written before and after every send, it lets the orchestrator settle a send whose outcome it
lost (a crash, a timeout): ``sent`` or ``failed`` are facts; ``attempt`` without an outcome means
the send may or may not have gone out (``unknown``, never repeated); no entry means it never
started (safe to try again). A send for a message id already in the journal is not repeated.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

JOURNAL_FILE = "send-journal.jsonl"
KEEP = 20_000


class SendJournal:
    """Append-only JSON lines, loaded at start, compacted when long."""

    def __init__(self, auth_dir: Path) -> None:
        self.path = auth_dir / JOURNAL_FILE
        self._entries: dict[str, dict[str, Any]] = {}
        self._lines = 0
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                self._apply(line)

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
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, (json.dumps(entry) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        self._lines += 1
        if self._lines > 2 * KEEP:
            self._compact()

    def _compact(self) -> None:
        keep = list(self._entries.values())[-KEEP:]
        self._entries = {entry["id"]: entry for entry in keep}
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text("".join(json.dumps(entry) + "\n" for entry in keep))
        os.chmod(temporary, 0o600)
        os.replace(temporary, self.path)
        self._lines = len(keep)
