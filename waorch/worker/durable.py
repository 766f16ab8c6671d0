"""Files a worker keeps in its auth dir that must survive a crash or a power cut (mode 600).

An append is on disk when it returns; a file replaced by a rename is fsynced first, and so is its
directory after the rename, so a power cut leaves either the old file or the new one, whole.
"""

from __future__ import annotations

import os
from pathlib import Path


def append_synced(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path`` (created private: then its directory entry is flushed too) and
    flush it to disk before returning."""
    created = not path.exists()
    _write_synced(path, data, os.O_APPEND)
    if created:
        fsync_directory(path.parent)


def replace_synced(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably: the new file, then the rename, on disk."""
    temporary = path.with_suffix(".tmp")
    _write_synced(temporary, data, os.O_TRUNC)
    os.replace(temporary, path)
    fsync_directory(path.parent)


def _write_synced(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | mode, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(directory: Path) -> None:
    """Flush a directory's entries (a rename or a new file in it) to disk."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
