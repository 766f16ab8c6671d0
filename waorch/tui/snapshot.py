"""What the sessions table shows, read from the core in one pass (never in a render path)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from waorch.core.pacing import local_day
from waorch.core.reader import CoreReader
from waorch.core.tiers import account_age, tier_for_age

COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("id", "id", 12),
    ("phone", "phone", 15),
    ("status", "status", 12),
    ("tier", "tier", 6),
    ("proxy", "proxy", 22),
    ("queue", "queue", 6),
    ("today", "sent/limit", 10),
    ("failed", "failed", 6),
    ("health", "health", 6),
    ("ping", "last ping", 9),
)


@dataclass(frozen=True)
class SessionRow:
    """One session as the control room shows it (the proxy by endpoint, never its password)."""

    id: str
    phone: str
    status: str
    tier: str
    proxy: str
    queue: int
    sent: int
    daily_limit: int
    failed: int
    last_ping: float
    health: int | None = None  # its health score (None: not read yet)

    def cells(self, now: float) -> tuple[str, ...]:
        """Cell texts in ``COLUMNS`` order; the ping age is relative to ``now``."""
        return (
            self.id,
            self.phone or "-",
            self.status,
            self.tier,
            self.proxy or "direct",
            str(self.queue),
            f"{self.sent}/{self.daily_limit}",
            str(self.failed),
            "-" if self.health is None else str(self.health),
            ping_age(self.last_ping, now),
        )


PING_AGE_STEP_S = 5  # ages under two minutes move in 5 s steps: a fleet's rows do not all change every second


def ping_age(last_ping: float, now: float) -> str:
    """``10s`` / ``3m`` / ``2h`` since the last ping (seconds in steps of 5), ``-`` if none yet."""
    if not last_ping:
        return "-"
    age = max(0, int(now - last_ping))
    if age < 120:
        return f"{age - age % PING_AGE_STEP_S}s"
    if age < 7200:
        return f"{age // 60}m"
    return f"{age // 3600}h"


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders ``worker_2`` before ``worker_10`` and ``9s`` before ``12s``."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part)


async def collect(reader: CoreReader) -> list[SessionRow]:
    """Every session with its queue depth, today's counters, its tier and its health score (as read at most
    ``FRESH_S`` ago), oldest first."""
    now = reader.clock.now()
    fleet = await reader.fleet.rows(local_day(now, reader.settings.timezone))
    endpoints = {info.id: info.endpoint for info in await reader.pool.list()}
    tiers = await reader.tiers.all()
    health = await reader.account_health.scores()
    rows = []
    for row in fleet:
        tier = tier_for_age(tiers, account_age(row.first_connected, now), row.tier_pin)
        rows.append(
            SessionRow(
                row.id,
                row.phone,
                row.status,
                tier.name,
                endpoints.get(row.proxy, ""),
                row.depth,
                row.sent,
                tier.daily_limit,
                row.failed,
                row.last_ping,
                health.get(row.id),
            )
        )
    return rows
