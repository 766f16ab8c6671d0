"""Validating a send: recipients are parsed per default region (a parsed number is kept, an
invalid one is refused every time), text must be real Unicode, sendAt at most a year ahead."""

from __future__ import annotations

import pytest

from waorch.core.intake import parse_phone, parse_send_at, parse_text
from waorch.errors import BadRequest, InvalidPhone


def test_a_national_number_depends_on_the_default_region() -> None:
    assert parse_phone("050-234-5678", "IL") == "972502345678"
    with pytest.raises(InvalidPhone, match="DEFAULT_REGION"):
        parse_phone("050-234-5678", None)
    assert parse_phone("050-234-5678", "IL") == "972502345678"
    assert parse_phone("030 1234567", "DE") == "49301234567"


def test_an_invalid_number_is_refused_every_time() -> None:
    for _ in range(3):
        with pytest.raises(InvalidPhone, match="not a valid phone number"):
            parse_phone("+1 555", None)


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
