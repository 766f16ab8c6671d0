"""The runner seam: how a worker is started, stopped and checked (process or container)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a runner needs to start one session's worker."""

    session_id: str
    environment: dict[str, str]
    auth_dir: Path
    log_path: Path


@dataclass(frozen=True)
class Stray:
    """A worker of this deployment that no session holds (an orphan): left by a deleted session's lost
    stop, or by a crash between starting a worker and recording it."""

    ref: str
    name: str
    session_id: str


@dataclass(frozen=True)
class Liveness:
    """What a runner sees of one worker: whether it runs, and why it should move to another process now (its
    process is being drained; ``None``: it stays)."""

    alive: bool
    move: str | None = None


DEAD = Liveness(False)


class Runner(Protocol):
    """Starts and supervises workers. A worker is named by an opaque ``ref`` the runner returns."""

    async def start(self, spec: WorkerSpec) -> str:
        """Start a worker; return its ref (stored with the session, so it survives restarts)."""
        ...

    async def stop(self, ref: str, timeout: float = 10.0) -> None:
        """Stop a worker (politely, then by force after ``timeout``); a dead ref is fine."""
        ...

    async def survey(self, refs: Collection[str]) -> dict[str, Liveness]:
        """Each worker of ``refs`` as it is now (every ref answered; an unknown one is dead), each process,
        host or engine asked once: the watchdog's pass reads the whole fleet in one call."""
        ...

    async def strays(self, known: Collection[str]) -> list[Stray]:
        """This deployment's workers whose ref is not in ``known`` (the refs the sessions hold)."""
        ...

    async def close(self) -> None:
        """Release the runner's own resources (workers keep running)."""
        ...
