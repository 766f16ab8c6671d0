"""A health score per session, from what waorch observes of its account over the last ``WINDOW_DAYS`` local days.

The score starts at 100 and each part takes away up to its most (the sum can pass 100; the score stops at 0):

=============  ====  ===========================================================================================
part           most  penalty
=============  ====  ===========================================================================================
tier             20  by the place of the session's tier in the table: the first (coldest) 20, the last 0
failures         30  the share of sends that failed, in points (10 % failed: 10), once 10 sends were tried
replies          15  15 when no recipient it wrote to answered within 24 h, 0 from a 30 % answer rate up, once
                     10 recipients were waited on
new_contacts     15  0 while at most half of those it reached were new contacts, up to 15 when all were
disconnects      15  3 for each disconnect
bans             30  15 for each temporary ban
breaker          20  10 for each trip of the failure breaker
=============  ====  ===========================================================================================

A grade reads it: ``good`` from 80, ``fair`` from 50, ``poor`` below. What it counts lives in each session's
counters of the day (``keys.counts``: ``sent``, ``failed``, ``unknown`` and ``new_contacts`` by the send path;
``awaited`` (a recipient written to who is not already awaited) and ``replied`` (one of them wrote back within
24 h, ``keys.awaiting_reply``); ``disconnects``, ``bans`` and ``breaker_trips`` through ``note``), which expire
after a week. One script reads any number of sessions' days in one round trip.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from redis.typing import EncodableT

from waorch.core import keys
from waorch.core.keys import LUA_KEY, SLOT
from waorch.core.messages import COUNT_TTL_S
from waorch.core.pacing import local_day
from waorch.core.redis_replies import as_int, as_list, as_str
from waorch.core.sessions import SessionStore
from waorch.core.tiers import DAY_S, Tier, TierStore, account_age, tier_for_age

WINDOW_DAYS = 7
COUNTED = ("sent", "failed", "unknown", "new_contacts", "awaited", "replied", "disconnects", "bans", "breaker_trips")
DISCONNECTS, BANS, BREAKER_TRIPS = "disconnects", "bans", "breaker_trips"
GOOD, FAIR = 80, 50
GRADES = ("good", "fair", "poor")
PART_NAMES = ("tier", "failures", "replies", "new_contacts", "disconnects", "bans", "breaker")
FRESH_S = 10.0  # how long ``scores`` answers from its last read (distribution and the control room ask often)
MIN_TRIED, MIN_AWAITED, MIN_REACHED = 10, 10, 10  # fewer than this: too few to judge that part

# ARGV: the session template, the number of days, the days' counts templates, then session ids.
# Per existing session: id, first_connected, tier_pin, then the sum of each COUNTED field over the days.
_READ = (
    LUA_KEY
    + """
local days, fields = tonumber(ARGV[2]), {FIELDS}
local out = {}
for at = 3 + days, #ARGV do
  local sid = ARGV[at]
  local f = redis.call('HMGET', key(ARGV[1], sid), 'first_connected', 'tier_pin', 'status')
  if f[3] then
    local sums = {}
    for i = 1, #fields do sums[i] = 0 end
    for d = 3, 2 + days do
      local counts = redis.call('HMGET', key(ARGV[d], sid), unpack(fields))
      for i = 1, #fields do sums[i] = sums[i] + (tonumber(counts[i]) or 0) end
    end
    out[#out + 1] = sid
    out[#out + 1] = f[1] or '0'
    out[#out + 1] = f[2] or ''
    for i = 1, #fields do out[#out + 1] = sums[i] end
  end
end
return out
""".replace("{FIELDS}", "{" + ", ".join(f"'{name}'" for name in COUNTED) + "}")
)
_WIDTH = 3 + len(COUNTED)


@dataclass(frozen=True)
class Observed:
    """What waorch counted of one session over the window."""

    session_id: str
    first_connected: float
    tier_pin: str
    counts: dict[str, int]


@dataclass(frozen=True)
class Part:
    """One part of the score: what it saw, and the points it takes away (up to ``most``)."""

    name: str
    penalty: int
    most: int
    detail: str


@dataclass(frozen=True)
class Report:
    """A session's score and its parts."""

    session_id: str
    score: int
    parts: tuple[Part, ...]

    @property
    def grade(self) -> str:
        """``good``, ``fair`` or ``poor``."""
        return "good" if self.score >= GOOD else "fair" if self.score >= FAIR else "poor"


def window_days(now: float, zone: ZoneInfo) -> list[str]:
    """The ``WINDOW_DAYS`` local days up to ``now``'s, newest first, by the calendar (a day of 23 or 25 hours
    neither skips nor repeats one)."""
    today = datetime.fromtimestamp(now, zone).date()
    return [(today - timedelta(days=back)).isoformat() for back in range(WINDOW_DAYS)]


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _tier(seen: Observed, tiers: tuple[Tier, ...], now: float) -> Part:
    age = account_age(seen.first_connected, now)
    tier = tier_for_age(tiers, age, seen.tier_pin)
    place, last = tiers.index(tier), len(tiers) - 1
    connected = f"connected {age / DAY_S:.0f} days ago" if seen.first_connected else "never connected"
    return Part("tier", round(20 * (last - place) / last) if last else 0, 20, f"{tier.name}, {connected}")


def _failures(counts: dict[str, int]) -> Part:
    failed, tried = counts["failed"], counts["sent"] + counts["failed"] + counts["unknown"]
    detail = f"{failed} of {tried} sends failed"
    return Part("failures", min(30, round(100 * _share(failed, tried))) if tried >= MIN_TRIED else 0, 30, detail)


def _replies(counts: dict[str, int]) -> Part:
    replied, awaited = counts["replied"], counts["awaited"]
    rate = _share(replied, awaited)
    penalty = round(15 * max(0.0, 0.3 - rate) / 0.3) if awaited >= MIN_AWAITED else 0
    return Part("replies", penalty, 15, f"{replied} of {awaited} recipients wrote back within 24 h")


def _new_contacts(counts: dict[str, int]) -> Part:
    new, reached = counts["new_contacts"], counts["sent"] + counts["unknown"]
    penalty = round(15 * max(0.0, _share(new, reached) - 0.5) / 0.5) if reached >= MIN_REACHED else 0
    return Part("new_contacts", penalty, 15, f"{new} of {reached} sends went to new contacts")


def _each(name: str, count: int, points: int, most: int, what: str) -> Part:
    return Part(name, min(most, points * count), most, f"{count} {what}")


def assess(seen: Observed, tiers: tuple[Tier, ...], now: float) -> Report:
    """The score of what was observed, part by part (the module's table)."""
    counts = seen.counts
    parts = (
        _tier(seen, tiers, now),
        _failures(counts),
        _replies(counts),
        _new_contacts(counts),
        _each("disconnects", counts[DISCONNECTS], 3, 15, "disconnects"),
        _each("bans", counts[BANS], 15, 30, "temporary bans"),
        _each("breaker", counts[BREAKER_TRIPS], 10, 20, "breaker trips"),
    )
    return Report(seen.session_id, max(0, 100 - sum(part.penalty for part in parts)), parts)


class AccountHealth:
    """Counts what the score needs beyond the send path, and reads sessions' scores."""

    def __init__(self, store: SessionStore, zone: ZoneInfo, tiers: TierStore) -> None:
        self.store = store
        self.redis = redis = store.redis
        self.clock = store.clock
        self.zone = zone
        self.tiers = tiers
        self._read = redis.register_script(_READ)
        self._scores: dict[str, int] = {}
        self._read_at = -FRESH_S

    async def note(self, session_id: str, what: str) -> None:
        """One more ``what`` (``DISCONNECTS``, ``BANS``, ``BREAKER_TRIPS``) today."""
        bucket = keys.counts(session_id, local_day(self.clock.now(), self.zone))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(bucket, what, 1)
            pipe.expire(bucket, COUNT_TTL_S)
            await pipe.execute()

    async def reports(self, session_ids: Sequence[str] | None = None) -> list[Report]:
        """The scores of these sessions (default: all), read now; a session that does not exist has none."""
        now = self.clock.now()
        ids = list(session_ids) if session_ids is not None else await self.store.ids()
        days = window_days(now, self.zone)
        args: list[EncodableT] = [keys.session(SLOT), len(days), *(keys.counts(SLOT, day) for day in days), *ids]
        flat = as_list(await self._read(keys=[], args=args))
        tiers = await self.tiers.all()
        return [assess(_observed(flat[at : at + _WIDTH]), tiers, now) for at in range(0, len(flat), _WIDTH)]

    async def report(self, session_id: str) -> Report | None:
        """One session's score, or ``None`` if it does not exist."""
        found = await self.reports([session_id])
        return found[0] if found else None

    async def scores(self) -> dict[str, int]:
        """Every session's score by id, as read at most ``FRESH_S`` ago."""
        if time.monotonic() - self._read_at >= FRESH_S:
            self._scores = {report.session_id: report.score for report in await self.reports()}
            self._read_at = time.monotonic()
        return self._scores


def _observed(row: list[object]) -> Observed:
    """One session's slice of the script's answer."""
    counts = {name: as_int(value) for name, value in zip(COUNTED, row[3:], strict=True)}
    return Observed(as_str(row[0]), float(as_str(row[1]) or 0), as_str(row[2]), counts)
