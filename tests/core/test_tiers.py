"""Validating a tier table (the core checks every table it saves, whoever wrote it): every number finite
and bounded, hours exactly HH:MM; and the API's reading of a table into tiers (the control room's form uses it)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from waorch.api.tiers import tier_json, tiers_from_json
from waorch.core.tiers import DEFAULT_TIERS, Tier, check_tiers
from waorch.errors import InvalidTiers


def table_with(**changes: object) -> list[Tier]:
    return [*DEFAULT_TIERS[:-1], replace(DEFAULT_TIERS[-1], **changes)]


@pytest.mark.parametrize(("attribute", "field", "value"), [
    ("min_age_days", "minAgeDays", math.nan), ("min_age_days", "minAgeDays", math.inf),
    ("min_age_days", "minAgeDays", 10**400), ("min_age_days", "minAgeDays", 3651),
    ("daily_limit", "dailyLimit", 10**30), ("daily_limit", "dailyLimit", 100_001), ("per_minute", "perMinute", 1001),
    ("per_minute", "perMinute", -1), ("delay_min_ms", "delayMinMs", 86_400_001), ("delay_max_ms", "delayMaxMs", 86_400_001),
    ("delay_max_ms", "delayMaxMs", 10**400),
])
def test_a_number_out_of_its_range_is_refused_naming_the_field(attribute: str, field: str, value: object) -> None:
    with pytest.raises(InvalidTiers, match=f"tiers\\[2\\]: {field} must be from 0 to "):
        check_tiers(table_with(**{attribute: value}))


@pytest.mark.parametrize("hours", ["22:00\n", "2\u0662:00", " 22:00", "22:00:00"])
def test_hours_are_exactly_hh_mm_in_ascii_digits(hours: str) -> None:
    with pytest.raises(InvalidTiers, match="hoursEnd must be HH:MM"):
        check_tiers(table_with(hours_end=hours))


def test_the_largest_values_are_accepted() -> None:
    tiers = check_tiers(table_with(min_age_days=3650, daily_limit=100_000, per_minute=1000, delay_min_ms=86_400_000,
                                   delay_max_ms=86_400_000, hours_end="24:00"))
    assert tiers[-1].min_age_days == 3650.0 and tiers[-1].delay_max_ms == 86_400_000


def test_a_written_table_reads_back_as_the_same_tiers() -> None:
    rows = [tier_json(tier) for tier in DEFAULT_TIERS]
    assert rows[1] == {"name": "warm", "minAgeDays": 3, "dailyLimit": 100, "perMinute": 15, "delayMinMs": 3000,
                       "delayMaxMs": 5000, "hoursStart": "08:00", "hoursEnd": "22:00"}
    assert tiers_from_json({"tiers": rows}) == DEFAULT_TIERS == tiers_from_json(rows)


@pytest.mark.parametrize(("change", "message"), [
    ({"dailyLimit": "20"}, "tiers[2]: dailyLimit has the wrong type"), ({"perMinute": True}, "tiers[2]: perMinute has the wrong type"),
    ({"colour": "blue"}, "tiers[2]: unknown field(s) colour"), ({"hoursEnd": None}, "tiers[2]: hoursEnd has the wrong type"),
])
def test_a_written_tier_of_the_wrong_shape_is_refused_naming_the_field(change: dict, message: str) -> None:
    rows = [tier_json(tier) for tier in DEFAULT_TIERS]
    rows[2] |= change
    with pytest.raises(InvalidTiers) as refused:
        tiers_from_json(rows)
    assert refused.value.message == message
