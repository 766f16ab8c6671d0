"""Each session's files in a backup: its login data, send journal and event spool, read while its worker runs.

A SQLite database (neonize's login data) is copied with SQLite's online backup API, so the copy is
one consistent state of a database the worker keeps writing, whatever its journal mode; every other
file is read whole: the sim engine's auth file is only ever replaced by a rename, and the journal and
the spool are append-only JSON lines whose readers skip a torn last line. sqlite's side files and
temporary files are left out (the copy already holds what they carry).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from pathlib import Path

from waorch.core.backup_archive import LAYOUT, SESSIONS
from waorch.private_files import DIR_MODE, FILE_MODE

SQLITE_HEADER = b"SQLite format 3\x00"
LEFT_OUT = ("-journal", "-wal", "-shm", ".tmp")


def read_session_files(sessions_dir: Path, session_ids: list[str]) -> dict[str, bytes]:
    """The archive members of the sessions' dirs: ``sessions/<id>/<file>`` → its data."""
    members: dict[str, bytes] = {}
    for session_id in session_ids:
        directory = sessions_dir / session_id
        for path in sorted(directory.iterdir()) if directory.is_dir() else ():
            name = f"{SESSIONS}/{session_id}/{path.name}"
            if LAYOUT.match(name) and not path.name.endswith(LEFT_OUT) and not path.is_symlink():
                with contextlib.suppress(FileNotFoundError, IsADirectoryError):  # gone meanwhile (a logout)
                    members[name] = _read(path)
    return members


def _read(path: Path) -> bytes:
    with open(path, "rb") as file:
        if file.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            return path.read_bytes()
    return _sqlite_copy(path)


def _sqlite_copy(path: Path) -> bytes:
    """A consistent copy of a live database, through SQLite's online backup API."""
    source = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    copy = sqlite3.connect(":memory:")
    try:
        source.backup(copy)
        return copy.serialize()
    finally:
        copy.close()
        source.close()


def place_session_files(sessions_dir: Path, files: dict[str, dict[str, bytes]]) -> None:
    """Put each session's files in its dir (0700, files 0600), replacing what was there: written to
    a temporary dir first, then renamed into place."""
    sessions_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    for session_id, session_files in files.items():
        staging = sessions_dir / f".{session_id}.restoring"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=DIR_MODE)
        for name, data in session_files.items():
            _write_private(staging / name, data)
        target = sessions_dir / session_id
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
