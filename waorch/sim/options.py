"""How a simulator is started: address, QR timings, optional state file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import web


@dataclass(frozen=True)
class SimOptions:
    """Simulator settings; the QR defaults match whatsmeow (60 s, then 20 s, six codes ≈ 160 s)."""

    host: str = "127.0.0.1"
    port: int = 0
    qr_first_ttl: float = 60.0
    qr_ttl: float = 20.0
    qr_count: int = 6
    state_path: Path | None = None


OPTIONS = web.AppKey("waorch.sim.options", SimOptions)
