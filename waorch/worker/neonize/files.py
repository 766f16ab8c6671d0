"""A session's auth data on disk: one sqlite database, private to its owner."""

from __future__ import annotations

import os
from pathlib import Path

DATABASE = "session.sqlite3"
# sqlite's companions of a database file (they carry the same secrets).
SIDE_SUFFIXES = ("-journal", "-wal", "-shm")


class SessionFiles:
    """The auth dir (0700) and the neonize database in it (0600)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.database = directory / DATABASE

    def prepare(self) -> Path:
        """Create the dir and an empty database file, both private, if missing; return the database path.

        sqlite gives its journal files the mode of the database file, so they stay private too.
        """
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        os.close(os.open(self.database, os.O_WRONLY | os.O_CREAT, 0o600))
        os.chmod(self.database, 0o600)
        return self.database

    def delete(self) -> None:
        """Forget the login: the database and its side files."""
        for suffix in ("", *SIDE_SUFFIXES):
            Path(f"{self.database}{suffix}").unlink(missing_ok=True)
