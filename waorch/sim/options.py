"""How a simulator is started: address, QR timings, optional state file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from waorch.clock import Clock, SystemClock


@dataclass(frozen=True)
class SimOptions:
    """Simulator settings; the QR defaults match whatsmeow (60 s, then 20 s, six codes ≈ 160 s)."""

    host: str = "127.0.0.1"
    port: int = 0
    qr_first_ttl: float = 60.0
    qr_ttl: float = 20.0
    qr_count: int = 6
    state_path: Path | None = None
    clock: Clock = field(default_factory=SystemClock)
    """Time of the delivery and presence logs (a ``ScaledClock`` shared with a rehearsing core)."""


OPTIONS = web.AppKey("waorch.sim.options", SimOptions)
