"""The backup archive: one gzipped tar with a manifest, the Redis state and each session's files.

Members: ``manifest.json`` (format, versions, time, counts, the SHA-256 of every other member),
``redis.json`` (:mod:`waorch.core.backup_redis`) and ``sessions/<id>/<file>``. An archive is written to
a temporary file (0600) in the backups dir, fsynced and renamed into place, so a crash never leaves a
half archive under a backup's name. Reading checks everything before anything is used: every member a
regular file at a plain relative path of that layout, each checksum, the format and its version.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from waorch.errors import BackupCorrupt, BackupForeign, BackupTooNew, BackupUnsafe
from waorch.private_files import FILE_MODE, fsync_dir

FORMAT = "waorch-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
REDIS = "redis.json"
SESSIONS = "sessions"
PART = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"  # a session id or a file name (no dot first: never . or ..)
LAYOUT = re.compile(rf"^(?:{re.escape(REDIS)}|{SESSIONS}/{PART}/{PART})$")
GZIP_MAGIC = b"\x1f\x8b"
# Reading holds an archive's members in memory: a bound on what its headers may claim (a fleet of 500
# sessions is a few hundred MB), so a crafted archive (a gzip bomb) is refused before it is unpacked.
MAX_UNPACKED_BYTES = 2 * 2**30
MAX_MEMBERS = 100_000
# The manifest is read on its own to list archives (and for each /metrics scrape): it names every member
# with a checksum, about 100 bytes each, so 16 MiB is room for MAX_MEMBERS and nothing like a bomb.
MAX_MANIFEST_BYTES = 16 * 2**20


@dataclass(frozen=True)
class Archive:
    """An archive's contents: its manifest and every other member by name."""

    manifest: dict[str, Any]
    members: dict[str, bytes]

    def session_files(self) -> dict[str, dict[str, bytes]]:
        """``{session id: {file name: data}}``."""
        files: dict[str, dict[str, bytes]] = {}
        for name, data in self.members.items():
            if name.startswith(f"{SESSIONS}/"):
                _, session_id, file_name = name.split("/")
                files.setdefault(session_id, {})[file_name] = data
        return files


def manifest_of(members: dict[str, bytes], **fields: Any) -> dict[str, Any]:
    """The manifest of ``members``: format, version, ``fields`` (versions, time, counts), their checksums."""
    checksums = {name: hashlib.sha256(data).hexdigest() for name, data in sorted(members.items())}
    return {"format": FORMAT, "formatVersion": FORMAT_VERSION, **fields, "sha256": checksums}


def write_archive(path: Path, manifest: dict[str, Any], members: dict[str, bytes], mtime: float) -> int:
    """Write the archive at ``path`` atomically and durably (0600); its size in bytes."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # 0600
    try:
        with os.fdopen(fd, "wb") as file:
            with tarfile.open(fileobj=file, mode="w:gz") as tar:
                _add(tar, MANIFEST, json.dumps(manifest, indent=1).encode(), mtime)
                for name, data in sorted(members.items()):
                    _add(tar, name, data, mtime)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    fsync_dir(path.parent)
    return path.stat().st_size


def _add(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), FILE_MODE, int(mtime)
    tar.addfile(info, io.BytesIO(data))


def read_archive(path: Path) -> Archive:
    """The checked contents of the archive at ``path`` (``BackupForeign``, ``BackupCorrupt``,
    ``BackupTooNew`` or ``BackupUnsafe`` saying what is wrong; nothing is written anywhere)."""
    with open(path, "rb") as file:
        if file.read(2) != GZIP_MAGIC:
            raise BackupForeign(f"{path.name} is not a waorch backup (not a gzipped archive)")
    try:
        members = _members(path)
    except (tarfile.TarError, EOFError, OSError, zlib.error, gzip.BadGzipFile) as error:
        raise BackupCorrupt(f"{path.name} is truncated or damaged ({error})") from None
    manifest = _manifest(path.name, members.pop(MANIFEST, None))
    _check_sums(path.name, manifest, members)
    return Archive(manifest, members)


def peek_manifest(path: Path) -> dict[str, Any]:
    """The manifest (the first member) of the archive at ``path`` without reading the rest, under the same
    member checks as :func:`read_archive`; ``{}`` if there is none or it is not sound."""
    with contextlib.suppress(Exception), tarfile.open(path, mode="r|gz") as tar:
        first = tar.next()
        if first is None or first.name != MANIFEST:
            return {}
        _check_member(path.name, first, {})
        extracted = tar.extractfile(first)
        manifest = json.loads(extracted.read()) if extracted else {}
        return manifest if isinstance(manifest, dict) else {}
    return {}


def _members(path: Path) -> dict[str, bytes]:
    members: dict[str, bytes] = {}
    unpacked = 0
    with tarfile.open(path, mode="r:gz") as tar:
        for member in tar:
            _check_member(path.name, member, members)
            unpacked += member.size
            if unpacked > MAX_UNPACKED_BYTES or len(members) >= MAX_MEMBERS:
                raise BackupUnsafe(
                    f"{path.name} unpacks to more than {MAX_UNPACKED_BYTES // 2**30} GiB or "
                    f"{MAX_MEMBERS} files: not a backup waorch wrote"
                )
            extracted = tar.extractfile(member)
            members[member.name] = extracted.read() if extracted else b""
    return members


def _check_member(archive: str, member: tarfile.TarInfo, seen: dict[str, bytes]) -> None:
    name = member.name
    if name.startswith("/") or ".." in name.split("/") or not member.isreg():
        raise BackupUnsafe(f"{archive}: member {name[:120]!r} leaves the archive or is no regular file")
    if name in seen:
        raise BackupCorrupt(f"{archive}: member {name[:120]!r} appears twice")
    if name != MANIFEST and not LAYOUT.match(name):
        raise BackupForeign(f"{archive} is not a waorch backup (member {name[:120]!r})")
    if name == MANIFEST and member.size > MAX_MANIFEST_BYTES:
        raise BackupUnsafe(f"{archive}: its manifest claims {member.size} bytes: not a backup waorch wrote")


def _manifest(archive: str, raw: bytes | None) -> dict[str, Any]:
    try:
        manifest = json.loads(raw) if raw is not None else None
    except ValueError:
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupForeign(f"{archive} is not a waorch backup (no waorch manifest)")
    version = manifest.get("formatVersion")
    if not isinstance(version, int) or version < 1:
        raise BackupCorrupt(f"{archive}: the manifest has no format version")
    if version > FORMAT_VERSION:
        raise BackupTooNew(
            f"{archive} is in backup format {version}, written by waorch {manifest.get('waorchVersion')}; "
            f"this waorch reads format {FORMAT_VERSION}: restore it with that version or a newer one"
        )
    return manifest


def _check_sums(archive: str, manifest: dict[str, Any], members: dict[str, bytes]) -> None:
    sums = manifest.get("sha256")
    if not isinstance(sums, dict) or set(sums) != set(members):
        raise BackupCorrupt(f"{archive}: its members are not those its manifest lists")
    for name, data in members.items():
        if hashlib.sha256(data).hexdigest() != sums[name]:
            raise BackupCorrupt(f"{archive}: {name} does not match its checksum")
