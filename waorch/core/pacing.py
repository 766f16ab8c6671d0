"""Anti-ban pacing: when a session may send next (pure functions of time and its recent sends).

Rules, all in the tier's terms: a jittered gap after the previous send completed
(``base + random() * jitterRange`` from the tier's delay range), at most ``per_minute`` sends in
any sliding 60 s (no fixed windows), at most ``daily_limit`` per local day, and only inside the
active hours (with room for the send to finish before they close).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from waorch.core.tiers import Tier

WINDOW_S = 60.0


@dataclass(frozen=True)
class Recent:
    """What pacing needs to know of a session's past sends."""

    last_done: float = 0.0
    """When the previous send completed (0: never)."""
    gap: float = 0.0
    """The jittered gap drawn for the next send, in seconds."""
    done_times: tuple[float, ...] = ()
    """Completion times of the sends in the last minute, oldest first."""
    sent_today: int = 0
    """Sends so far on the local day of ``now``."""


def draw_gap(tier: Tier, rng: random.Random | None = None) -> float:
    """The seed's jitter formula: ``base + random() * jitterRange``, in seconds."""
    base = tier.delay_min_ms / 1000
    jitter = (tier.delay_max_ms - tier.delay_min_ms) / 1000
    return base + (rng or random).random() * jitter


def gap_fits(tier: Tier, gap: float) -> bool:
    """Whether a drawn gap is still inside the tier's delay range (tiers change live)."""
    return tier.delay_min_ms / 1000 <= gap <= tier.delay_max_ms / 1000


def local_day(ts: float, zone: ZoneInfo) -> str:
    """``YYYY-MM-DD`` of ``ts`` in the zone."""
    return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d")


def next_midnight(ts: float, zone: ZoneInfo) -> float:
    """The next local midnight after ``ts``."""
    local = datetime.fromtimestamp(ts, zone)
    tomorrow = (local + timedelta(days=1)).date()
    return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=zone).timestamp()


def _at_minute(day_start: datetime, minute: int, zone: ZoneInfo) -> float:
    naive = datetime(day_start.year, day_start.month, day_start.day) + timedelta(minutes=minute)
    return naive.replace(tzinfo=zone).timestamp()


def _windows(ts: float, tier: Tier, zone: ZoneInfo) -> list[tuple[float, float]]:
    """Active-hour windows (open, close) from the day before ``ts`` to two days after."""
    today = datetime.fromtimestamp(ts, zone)
    windows = []
    for offset in (-1, 0, 1, 2):
        day = today + timedelta(days=offset)
        end_offset = 0 if tier.end_minute > tier.start_minute else 1440
        windows.append((_at_minute(day, tier.start_minute, zone), _at_minute(day, tier.end_minute + end_offset, zone)))
    return windows


def in_hours(ts: float, tier: Tier, zone: ZoneInfo, room: float = 0.0) -> bool:
    """Whether a send starting at ``ts`` and taking ``room`` seconds fits in the active hours."""
    return any(open_ <= ts and ts + room < close for open_, close in _windows(ts, tier, zone))


def hours_open_at(ts: float, tier: Tier, zone: ZoneInfo, room: float = 0.0) -> float:
    """The earliest time ≥ ``ts`` at which a send taking ``room`` seconds fits in the active hours."""
    for open_, close in _windows(ts, tier, zone):
        start = max(ts, open_)
        if start + room < close:
            return start
    return math.inf


def earliest_send(now: float, tier: Tier, zone: ZoneInfo, recent: Recent, room: float = 0.0) -> float:
    """The earliest time ≥ ``now`` the next send may start (``inf``: the tier allows none)."""
    if tier.per_minute == 0 or tier.daily_limit == 0:
        return math.inf
    at = max(now, recent.last_done + recent.gap if recent.last_done else now)
    if len(recent.done_times) >= tier.per_minute:
        at = max(at, recent.done_times[-tier.per_minute] + WINDOW_S)
    if recent.sent_today >= tier.daily_limit and local_day(at, zone) == local_day(now, zone):
        at = next_midnight(now, zone)
    return hours_open_at(at, tier, zone, room)


def typing_seconds(text: str) -> float:
    """How long "typing…" shows before a text: grows with its length (about 8 characters a second)."""
    return min(1.0 + len(text) / 8.0, 8.0)
