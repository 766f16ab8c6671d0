"""Anti-ban pacing: when a session may send next (pure functions of time and its recent sends).

Rules, all in the tier's terms: a jittered gap after the previous send completed
(``base + random() * jitterRange`` from the tier's delay range), at most ``per_minute`` sends in
any sliding 60 s (no fixed windows), at most ``daily_limit`` per local day, and only inside the
active hours (with room for the send to finish before they close). Per recipient
(``recipient_hold``): at most ``per_recipient_hour`` sends to it in any sliding hour and
``per_recipient_day`` in any sliding 24 hours, and, if it is a new contact (never written to, never
wrote), only while the session reached fewer than ``new_contacts_per_day`` new contacts that local day.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from waorch.core.tiers import Tier

WINDOW_S = 60.0
HOUR_S = 3600.0
DAY_WINDOW_S = 86400.0
# The holds that concern one recipient: a message they hold lets later ones to other recipients pass.
RECIPIENT_HOLDS = frozenset({"reach_out", "new_contacts", "per_recipient_hour", "per_recipient_day"})


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


def at_minute(day_start: datetime, minute: int, zone: ZoneInfo) -> float:
    """The time ``minute`` minutes after the local midnight that begins ``day_start``'s day."""
    naive = datetime(day_start.year, day_start.month, day_start.day) + timedelta(minutes=minute)
    return naive.replace(tzinfo=zone).timestamp()


def _windows(ts: float, tier: Tier, zone: ZoneInfo) -> list[tuple[float, float]]:
    """Active-hour windows (open, close) from the day before ``ts`` to two days after."""
    today = datetime.fromtimestamp(ts, zone)
    windows = []
    for offset in (-1, 0, 1, 2):
        day = today + timedelta(days=offset)
        end_offset = 0 if tier.end_minute > tier.start_minute else 1440
        windows.append((at_minute(day, tier.start_minute, zone), at_minute(day, tier.end_minute + end_offset, zone)))
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


@dataclass(frozen=True)
class Hold:
    """Until when a queue's head waits, and why: ``reason`` is a code, ``text`` says it to a person."""

    at: float
    reason: str = ""  # "": nothing holds it (due at ``at``)
    text: str = ""

    def or_later(self, other: Hold) -> Hold:
        """The hold that ends last (the one that decides)."""
        return other if other.at > self.at else self


def clock_time(ts: float, zone: ZoneInfo, now: float) -> str:
    """``14:05`` today, ``14:05 tomorrow``, or ``2026-12-03 14:05``, in the zone."""
    moment, today = datetime.fromtimestamp(ts, zone), datetime.fromtimestamp(now, zone).date()
    if moment.date() == today:
        return moment.strftime("%H:%M")
    return (
        moment.strftime("%H:%M") + " tomorrow"
        if moment.date() == today + timedelta(days=1)
        else moment.strftime("%Y-%m-%d %H:%M")
    )


def earliest_send(now: float, tier: Tier, zone: ZoneInfo, recent: Recent, room: float = 0.0) -> Hold:
    """The earliest time ≥ ``now`` the next send may start, and which rule decides it (``inf``: the
    tier allows none)."""
    if tier.per_minute == 0 or tier.daily_limit == 0:
        return Hold(math.inf, "tier_closed", f"tier {tier.name} allows no sends (its daily or per-minute limit is 0)")
    hold = Hold(now)
    if recent.last_done:
        hold = hold.or_later(
            Hold(recent.last_done + recent.gap, "gap", f"pacing gap of {recent.gap:.1f} s after the last send")
        )
    if len(recent.done_times) >= tier.per_minute:
        hold = hold.or_later(
            Hold(
                recent.done_times[-tier.per_minute] + WINDOW_S,
                "per_minute",
                f"per-minute cap: {tier.per_minute} sent in the last minute",
            )
        )
    if recent.sent_today >= tier.daily_limit and local_day(hold.at, zone) == local_day(now, zone):
        hold = Hold(
            next_midnight(now, zone),
            "daily_limit",
            f"daily limit reached: {recent.sent_today} of {tier.daily_limit} sent today; sends again after midnight",
        )
    opens = hours_open_at(hold.at, tier, zone, room)
    if opens > hold.at:
        return Hold(
            opens,
            "hours",
            f"outside active hours {tier.hours_start}-{tier.hours_end} ({zone.key}): "
            f"opens {clock_time(opens, zone, now)}",
        )
    return hold


def typing_seconds(text: str) -> float:
    """How long "typing…" shows before a text: grows with its length (about 8 characters a second)."""
    return min(1.0 + len(text) / 8.0, 8.0)


@dataclass(frozen=True)
class ToRecipient:
    """What the recipient caps need to know of a session's past sends to one recipient."""

    contact: bool = False
    """The session wrote to it before, or it wrote to the session."""
    new_contacts_today: int = 0
    """New contacts the session reached on the local day of ``now``."""
    sends: tuple[float, ...] = ()
    """When the sends to it of the last 24 hours finished, oldest first."""


def _window_hold(now: float, sends: tuple[float, ...], cap: int, span: float, reason: str, text: str) -> Hold:
    """At most ``cap`` sends in any sliding ``span`` seconds: when the next one may go."""
    recent = [at for at in sends if at > now - span]
    if len(recent) < cap:
        return Hold(now)
    return Hold(recent[-cap] + span if cap else math.inf, reason, text.format(len(recent), cap))


def recipient_hold(now: float, tier: Tier, zone: ZoneInfo, to: ToRecipient) -> Hold:
    """The earliest time ≥ ``now`` a send to this recipient may start as far as its caps go, and which decides."""
    hold = _window_hold(
        now, to.sends, tier.per_recipient_hour, HOUR_S, "per_recipient_hour", "per-recipient cap: {} of {} an hour"
    ).or_later(
        _window_hold(
            now,
            to.sends,
            tier.per_recipient_day,
            DAY_WINDOW_S,
            "per_recipient_day",
            "per-recipient cap: {} of {} in 24 h",
        )
    )
    if not to.contact and to.new_contacts_today >= tier.new_contacts_per_day:
        new = Hold(
            next_midnight(now, zone) if tier.new_contacts_per_day else math.inf,
            "new_contacts",
            f"new-contact cap: {to.new_contacts_today} of {tier.new_contacts_per_day} new contacts today"
            + ("; more after midnight" if tier.new_contacts_per_day else ""),
        )
        hold = hold.or_later(new)
    return hold
