"""The clock seam: wall time and sleeping, real or scaled.

Pacing rules are stated in hours, minutes and seconds of wall time. ``SystemClock`` is the real
one. ``ScaledClock`` runs faster than real time from a chosen start, so a day of anti-ban pacing
can be rehearsed (or tested) in minutes: the core and an in-process simulator share one.

The core reads every time of day through the clock it was built with (what it stores, what it
compares with what it stored); the control room renders ages and countdowns with the clock it
builds its core with. A duration bound to a real process (a worker's pings, an HTTP delivery) is converted with
``real_seconds`` / ``clock_seconds``; plain timeouts use ``time.monotonic()``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Wall time in unix seconds, and sleeping in that time."""

    def now(self) -> float:
        """Current wall time (unix seconds)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep for ``seconds`` of this clock's time."""
        ...

    def real_seconds(self, seconds: float) -> float:
        """How many real seconds ``seconds`` of this clock's time take."""
        ...

    def clock_seconds(self, real_seconds: float) -> float:
        """How many seconds of this clock's time pass in ``real_seconds`` real seconds."""
        ...


class SystemClock:
    """Real time."""

    def now(self) -> float:
        """See ``Clock.now``."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """See ``Clock.sleep``."""
        await asyncio.sleep(max(0.0, seconds))

    def real_seconds(self, seconds: float) -> float:
        """See ``Clock.real_seconds``."""
        return seconds

    def clock_seconds(self, real_seconds: float) -> float:
        """See ``Clock.clock_seconds``."""
        return real_seconds


class ScaledClock:
    """Time that starts at ``start`` (unix seconds) and runs ``scale`` times faster than real time."""

    def __init__(self, scale: float, start: float | None = None) -> None:
        if scale <= 0:
            raise ValueError("scale must be positive")
        self.scale = scale
        self._real_origin = time.time()
        self._origin = self._real_origin if start is None else start

    def now(self) -> float:
        """See ``Clock.now``."""
        return self._origin + (time.time() - self._real_origin) * self.scale

    async def sleep(self, seconds: float) -> None:
        """See ``Clock.sleep``."""
        await asyncio.sleep(max(0.0, seconds) / self.scale)

    def real_seconds(self, seconds: float) -> float:
        """See ``Clock.real_seconds``."""
        return seconds / self.scale

    def clock_seconds(self, real_seconds: float) -> float:
        """See ``Clock.clock_seconds``."""
        return real_seconds * self.scale
