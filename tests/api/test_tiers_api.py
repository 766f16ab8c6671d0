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
        "newContactsPerDay": 40,
        "perRecipientPerHour": 10,
        "perRecipientPerDay": 40,
    }
    assert tiers_from_json({"tiers": rows}) == DEFAULT_TIERS == tiers_from_json(rows)


def test_a_table_written_without_the_caps_gets_those_of_the_default_tier_of_its_name() -> None:
    """A table kept from before the caps existed (a script, a saved file) still reads: a tier named like a
    default one gets its caps, any other the first (most careful) tier's."""
    caps = ("newContactsPerDay", "perRecipientPerHour", "perRecipientPerDay")
    rows = [{key: value for key, value in tier_json(tier).items() if key not in caps} for tier in DEFAULT_TIERS]
    rows.append(rows[-1] | {"name": "mine", "minAgeDays": 30})
    read = tiers_from_json(rows)
    assert read[:3] == DEFAULT_TIERS
    cold = DEFAULT_TIERS[0]
    assert (read[3].new_contacts_per_day, read[3].per_recipient_hour, read[3].per_recipient_day) == (
        cold.new_contacts_per_day,
        cold.per_recipient_hour,
        cold.per_recipient_day,
    )
    with pytest.raises(InvalidTiers) as refused:
        tiers_from_json([{key: value for key, value in rows[0].items() if key != "perMinute"}])
    assert refused.value.message == "tiers[0]: perMinute is required"  # the other fields stay required


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
