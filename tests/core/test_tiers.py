"""The tier table: validating it (the core checks every table it saves, whoever wrote it: every number finite
and bounded, hours exactly HH:MM), keeping it in Redis, and the tier a session of a given age is in."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import redis.asyncio as aioredis

from waorch.core import keys
from waorch.core.tiers import DAY_S, DEFAULT_TIERS, Tier, TierStore, account_age, check_tiers, tier_for_age
from waorch.errors import InvalidTiers


def table_with(**changes: object) -> list[Tier]:
    return [*DEFAULT_TIERS[:-1], replace(DEFAULT_TIERS[-1], **changes)]


@pytest.mark.parametrize(
    ("attribute", "field", "value"),
    [
        ("min_age_days", "minAgeDays", math.nan),
        ("min_age_days", "minAgeDays", math.inf),
        ("min_age_days", "minAgeDays", 10**400),
        ("min_age_days", "minAgeDays", 3651),
        ("daily_limit", "dailyLimit", 10**30),
        ("daily_limit", "dailyLimit", 100_001),
        ("per_minute", "perMinute", 1001),
        ("per_minute", "perMinute", -1),
        ("delay_min_ms", "delayMinMs", 86_400_001),
        ("delay_max_ms", "delayMaxMs", 86_400_001),
        ("delay_max_ms", "delayMaxMs", 10**400),
        ("new_contacts_per_day", "newContactsPerDay", 100_001),
        ("per_recipient_hour", "perRecipientPerHour", -1),
        ("per_recipient_day", "perRecipientPerDay", 10_001),
    ],
)
def test_a_number_out_of_its_range_is_refused_naming_the_field(attribute: str, field: str, value: object) -> None:
    with pytest.raises(InvalidTiers, match=f"tiers\\[2\\]: {field} must be from 0 to "):
        check_tiers(table_with(**{attribute: value}))


@pytest.mark.parametrize("hours", ["22:00\n", "2\u0662:00", " 22:00", "22:00:00"])
def test_hours_are_exactly_hh_mm_in_ascii_digits(hours: str) -> None:
    with pytest.raises(InvalidTiers, match="hoursEnd must be HH:MM"):
        check_tiers(table_with(hours_end=hours))


def test_the_largest_values_are_accepted() -> None:
    tiers = check_tiers(
        table_with(
            min_age_days=3650,
            daily_limit=100_000,
            per_minute=1000,
            delay_min_ms=86_400_000,
            delay_max_ms=86_400_000,
            hours_end="24:00",
        )
    )
    assert tiers[-1].min_age_days == 3650.0 and tiers[-1].delay_max_ms == 86_400_000


@pytest.mark.parametrize(
    ("age_days", "pinned", "name"),
    [
        (0, "", "cold"),
        (2.99, "", "cold"),
        (3, "", "warm"),
        (13.99, "", "warm"),
        (14, "", "hot"),
        (400, "", "hot"),
        (400, "cold", "cold"),
        (0, "hot", "hot"),
        (5, "gone", "warm"),  # a pin of a tier no longer there: by age
    ],
)
def test_a_session_is_in_the_oldest_tier_its_age_reaches_unless_pinned(age_days: float, pinned: str, name: str) -> None:
    assert tier_for_age(DEFAULT_TIERS, age_days * DAY_S, pinned).name == name


def test_an_account_that_never_connected_is_new_however_long_ago_it_was_provisioned() -> None:
    now = 1_800_000_000.0
    assert account_age(0.0, now) == 0.0  # first_connected unset: cold, not 57 years old
    assert tier_for_age(DEFAULT_TIERS, account_age(0.0, now)).name == "cold"
    assert account_age(now - 20 * DAY_S, now) == 20 * DAY_S


async def test_the_defaults_until_a_table_is_saved_and_an_invalid_one_changes_nothing(redis: aioredis.Redis) -> None:
    store = TierStore(redis, cache_s=0)
    assert await store.all() == DEFAULT_TIERS
    saved = await store.replace(table_with(daily_limit=900))
    assert await TierStore(redis).all() == saved and saved[-1].daily_limit == 900  # another core reads it too
    with pytest.raises(InvalidTiers):
        await store.replace(table_with(per_minute=-1))
    assert await TierStore(redis).all() == saved and await store.named("hot") == saved[-1]


async def test_a_table_saved_before_the_caps_existed_reads_with_the_caps_of_its_tiers_names(
    redis: aioredis.Redis,
) -> None:
    old = [
        {
            "name": name,
            "min_age_days": age,
            "daily_limit": 50,
            "per_minute": 5,
            "delay_min_ms": 1000,
            "delay_max_ms": 2000,
            "hours_start": "08:00",
            "hours_end": "20:00",
        }
        for name, age in (("cold", 0), ("vip", 5))
    ]
    await redis.set(keys.TIERS, json.dumps(old))
    cold, vip = await TierStore(redis, cache_s=0).all()
    assert (cold.new_contacts_per_day, vip.new_contacts_per_day) == (DEFAULT_TIERS[0].new_contacts_per_day,) * 2
    assert (cold.daily_limit, vip.per_recipient_day) == (50, DEFAULT_TIERS[0].per_recipient_day)
