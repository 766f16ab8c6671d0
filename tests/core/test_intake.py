"""Validating a send: text must be real Unicode, sendAt at most a year ahead (recipients: tests/test_phones.py)."""

from __future__ import annotations

import pytest

from waorch.core.intake import parse_send_at, parse_text
from waorch.errors import BadRequest


def test_text_with_a_lone_surrogate_is_not_text() -> None:
    assert parse_text("שלום 👋") == "שלום 👋"
    with pytest.raises(BadRequest) as refused:
        parse_text("hi \ud800")
    assert refused.value.code == "INVALID_TEXT"


def test_send_at_is_at_most_a_year_ahead() -> None:
    now = 1_800_000_000.0  # 2027-01-15
    assert parse_send_at("2027-12-31T09:30:00+02:00", now) == 1_830_238_200.0
    assert parse_send_at("2020-01-01T00:00:00+00:00", now) is None  # the past: now
    for far in ("2028-02-01T00:00:00+00:00", "9999-12-31T23:59:59-23:59"):
        with pytest.raises(BadRequest, match="at most 365 days ahead") as refused:
            parse_send_at(far, now)
        assert refused.value.code == "INVALID_SEND_AT"
