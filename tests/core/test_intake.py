"""Validating a send: recipients are parsed per default region (a parsed number is kept, an
invalid one is refused every time), and text must be real Unicode."""

from __future__ import annotations

import pytest

from waorch.core.intake import parse_phone, parse_text
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
