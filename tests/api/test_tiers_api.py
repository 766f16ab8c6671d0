"""The API's reading of a tier table into tiers and back (the control room's form uses it too)."""

from __future__ import annotations

import pytest

from waorch.api.tiers import tier_json, tiers_from_json
from waorch.core.tiers import DEFAULT_TIERS
from waorch.errors import InvalidTiers


def test_a_written_table_reads_back_as_the_same_tiers() -> None:
    rows = [tier_json(tier) for tier in DEFAULT_TIERS]
    assert rows[1] == {
        "name": "warm",
        "minAgeDays": 3,
        "dailyLimit": 100,
        "perMinute": 15,
        "delayMinMs": 3000,
        "delayMaxMs": 5000,
        "hoursStart": "08:00",
        "hoursEnd": "22:00",
    }
    assert tiers_from_json({"tiers": rows}) == DEFAULT_TIERS == tiers_from_json(rows)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dailyLimit": "20"}, "tiers[2]: dailyLimit has the wrong type"),
        ({"perMinute": True}, "tiers[2]: perMinute has the wrong type"),
        ({"colour": "blue"}, "tiers[2]: unknown field(s) colour"),
        ({"hoursEnd": None}, "tiers[2]: hoursEnd has the wrong type"),
    ],
)
def test_a_written_tier_of_the_wrong_shape_is_refused_naming_the_field(change: dict, message: str) -> None:
    rows = [tier_json(tier) for tier in DEFAULT_TIERS]
    rows[2] |= change
    with pytest.raises(InvalidTiers) as refused:
        tiers_from_json(rows)
    assert refused.value.message == message
