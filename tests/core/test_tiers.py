"""Validating a tier table (the API and the control room's form both use it): every number finite and bounded."""

from __future__ import annotations

import math

import pytest

from waorch.core.tiers import DEFAULT_TIERS, parse_tiers
from waorch.errors import InvalidTiers


def table_with(**changes: object) -> list[dict]:
    rows = [tier.to_dict() for tier in DEFAULT_TIERS]
    rows[-1] = {**rows[-1], **changes}
    return rows


@pytest.mark.parametrize(("field", "value"), [
    ("minAgeDays", math.nan), ("minAgeDays", math.inf), ("minAgeDays", 10**400), ("minAgeDays", 3651),
    ("dailyLimit", 10**30), ("dailyLimit", 100_001), ("perMinute", 1001), ("perMinute", -1),
    ("delayMinMs", 86_400_001), ("delayMaxMs", 86_400_001), ("delayMaxMs", 10**400),
])
def test_a_number_out_of_its_range_is_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(InvalidTiers, match=f"tiers\\[2\\]: {field} must be from 0 to "):
        parse_tiers(table_with(**{field: value}))


@pytest.mark.parametrize("hours", ["22:00\n", "2\u0662:00", " 22:00", "22:00:00"])
def test_hours_are_exactly_hh_mm_in_ascii_digits(hours: str) -> None:
    with pytest.raises(InvalidTiers, match="hoursEnd must be HH:MM"):
        parse_tiers(table_with(hoursEnd=hours))


def test_the_largest_values_are_accepted() -> None:
    tiers = parse_tiers(table_with(minAgeDays=3650, dailyLimit=100_000, perMinute=1000, delayMinMs=86_400_000,
                                   delayMaxMs=86_400_000, hoursEnd="24:00"))
    assert tiers[-1].min_age_days == 3650.0 and tiers[-1].delay_max_ms == 86_400_000
