"""Files and directories only their owner may read: the data dir, its logs, its secrets.

The data dir holds the embedded Redis (queued texts, phone numbers), the logs (phone numbers,
tracebacks), the login data and the secrets: it is 0700 and every file waorch writes in it 0600,
also in an installation made by an older version (modes are set again on every start).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
UMASK = 0o077  # for waorch's processes and their children: whatever they create is private


def private_dir(path: Path) -> Path:
    """Create ``path`` (with missing parents) and make it 0700, also if it existed with another mode."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty if it is missing (a log about to be appended to) and make it 0600."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE))
    os.chmod(path, FILE_MODE)
    return path


def create_private(path: Path, text: str) -> bool:
    """Write a new file ``path`` (0600) whole or not at all; False if it already exists.

    The text goes to a temporary file, is fsynced, and the file is then linked into place: a
    crash or a full disk never leaves ``path`` empty or cut short, and of two processes writing
    at once the first wins and the second keeps the first's file (``link`` never replaces).
    """
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        fsync_dir(path.parent)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def fsync_dir(path: Path) -> None:
    """Make a new directory entry durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
