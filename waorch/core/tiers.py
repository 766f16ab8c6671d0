"""Trust tiers: how fast a session may send, by its age since first connected.

Defaults follow the seed (cold / warm / hot). Tiers are edited live (``PUT /api/trust-tiers``, the
control room), validated as a whole, persisted in Redis, and read by the dispatcher before every send, so a
change takes effect at once on running sessions.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import redis.asyncio as aioredis

from waorch.core import keys
from waorch.errors import InvalidTiers

DAY_S = 86400
HHMM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]|24:00")  # fullmatch: no trailing newline, ASCII digits only


@dataclass(frozen=True)
class Tier:
    """Limits of one trust tier (delays in milliseconds, hours as HH:MM in the configured zone)."""

    name: str
    min_age_days: float
    daily_limit: int
    per_minute: int
    delay_min_ms: int
    delay_max_ms: int
    hours_start: str
    hours_end: str
    # Caps that follow how WhatsApp judges an account (the tables saved before them get the defaults of the
    # tier of the same name, else the first default tier's: ``with_caps``).
    new_contacts_per_day: int = 10
    """Recipients a day (local) that the session never wrote to and that never wrote to it."""
    per_recipient_hour: int = 6
    """Messages to one recipient in any sliding hour."""
    per_recipient_day: int = 20
    """Messages to one recipient in any sliding 24 hours."""

    @property
    def start_minute(self) -> int:
        """Minute of the day the active hours open."""
        return _minutes(self.hours_start)

    @property
    def end_minute(self) -> int:
        """Minute of the day the active hours close (may be before the start: overnight window)."""
        return _minutes(self.hours_end)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


DEFAULT_TIERS = (
    Tier("cold", 0, 20, 5, 5000, 8000, "09:00", "21:00", 10, 6, 20),
    Tier("warm", 3, 100, 15, 3000, 5000, "08:00", "22:00", 40, 10, 40),
    Tier("hot", 14, 500, 30, 2000, 4000, "07:00", "23:00", 150, 20, 80),
)
CAPS = ("new_contacts_per_day", "per_recipient_hour", "per_recipient_day")

NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


@dataclass(frozen=True)
class TierField:
    """A field of the tier table: the ``Tier`` attribute, its name as users write the table (the API, the
    control room's form, every message about it) and, for a number, its upper bound (from 0)."""

    attribute: str
    name: str
    maximum: int | None = None


# Upper bounds: ten years of age, far more than WhatsApp tolerates, a day between sends.
FIELDS = (
    TierField("name", "name"),
    TierField("min_age_days", "minAgeDays", 3650),
    TierField("daily_limit", "dailyLimit", 100_000),
    TierField("per_minute", "perMinute", 1000),
    TierField("delay_min_ms", "delayMinMs", DAY_S * 1000),
    TierField("delay_max_ms", "delayMaxMs", DAY_S * 1000),
    TierField("hours_start", "hoursStart"),
    TierField("hours_end", "hoursEnd"),
    TierField("new_contacts_per_day", "newContactsPerDay", 100_000),
    TierField("per_recipient_hour", "perRecipientPerHour", 1000),
    TierField("per_recipient_day", "perRecipientPerDay", 10_000),
)


def cap_defaults(name: str) -> dict[str, int]:
    """The caps a tier called ``name`` gets where a table leaves them out (one written before they existed):
    those of the default tier of that name, else of the first (the most careful) default tier."""
    model = next((tier for tier in DEFAULT_TIERS if tier.name == name), DEFAULT_TIERS[0])
    return {cap: getattr(model, cap) for cap in CAPS}


def _check_field(tier: Tier, field: TierField, where: str) -> None:
    value = getattr(tier, field.attribute)
    if field.maximum is not None and not 0 <= value <= field.maximum:  # False for NaN too
        raise InvalidTiers(f"{where}: {field.name} must be from 0 to {field.maximum}")
    if field.attribute.startswith("hours") and not HHMM.fullmatch(value):
        raise InvalidTiers(f"{where}: {field.name} must be HH:MM, got {value!r}")


def check_tier(tier: Tier, where: str) -> None:
    """``INVALID_TIERS`` naming ``where`` and the field if a value is out of its bounds or form."""
    for field in FIELDS:
        _check_field(tier, field, where)
    if not NAME.fullmatch(tier.name):
        raise InvalidTiers(f"{where}: name must be lowercase letters, digits, - or _")
    if tier.delay_min_ms > tier.delay_max_ms:
        raise InvalidTiers(f"{where}: delayMinMs must be ≤ delayMaxMs")
    if tier.hours_start == tier.hours_end:
        raise InvalidTiers(f"{where}: hoursStart and hoursEnd must differ")


def check_tiers(tiers: Sequence[Tier]) -> tuple[Tier, ...]:
    """A whole table: non-empty, every tier valid, unique names, first tier at age 0, ages strictly ascending
    (ages as days with a fraction, whichever number they were given as)."""
    if not tiers:
        raise InvalidTiers("tiers must be a non-empty list")
    for index, tier in enumerate(tiers):
        check_tier(tier, f"tiers[{index}]")
    if len({tier.name for tier in tiers}) != len(tiers):
        raise InvalidTiers("tier names must be unique")
    if tiers[0].min_age_days != 0:
        raise InvalidTiers("tiers[0]: minAgeDays must be 0 (every session has a tier)")
    for earlier, later in zip(tiers, tiers[1:], strict=False):
        if later.min_age_days <= earlier.min_age_days:
            raise InvalidTiers(f"tier {later.name}: minAgeDays must be greater than {earlier.name}'s")
    return tuple(replace(tier, min_age_days=float(tier.min_age_days)) for tier in tiers)


class TierStore:
    """The live tier table in Redis, read through a short cache (it is read before every send)."""

    def __init__(self, redis: aioredis.Redis, cache_s: float = 1.0) -> None:
        self.redis = redis
        self.cache_s = cache_s
        self._cached: tuple[Tier, ...] | None = None
        self._cached_at = 0.0

    async def all(self) -> tuple[Tier, ...]:
        """The current table (the defaults until someone saves one)."""
        if self._cached is None or time.monotonic() - self._cached_at > self.cache_s:
            raw = await self.redis.get(keys.TIERS)
            self._remember(
                tuple(Tier(**(cap_defaults(row["name"]) | row)) for row in json.loads(raw)) if raw else DEFAULT_TIERS
            )
        assert self._cached is not None
        return self._cached

    def _remember(self, tiers: tuple[Tier, ...]) -> None:
        self._cached, self._cached_at = tiers, time.monotonic()

    async def replace(self, table: Sequence[Tier]) -> tuple[Tier, ...]:
        """Validate and save a whole table; nothing changes if it is invalid."""
        tiers = check_tiers(table)
        await self.redis.set(keys.TIERS, json.dumps([asdict(tier) for tier in tiers]))
        self._remember(tiers)
        return tiers

    async def named(self, name: str) -> Tier | None:
        """The tier called ``name``, if any."""
        return next((tier for tier in await self.all() if tier.name == name), None)


def account_age(first_connected: float, now: float) -> float:
    """Seconds since the account first connected (0 if it never has): the age its tier goes by."""
    return now - first_connected if first_connected else 0.0


def tier_for_age(tiers: tuple[Tier, ...], age_seconds: float, pinned: str = "") -> Tier:
    """The tier of a session of this age (a pinned tier wins while it exists)."""
    for tier in tiers:
        if tier.name == pinned:
            return tier
    eligible = [tier for tier in tiers if age_seconds >= tier.min_age_days * DAY_S]
    return eligible[-1] if eligible else tiers[0]
