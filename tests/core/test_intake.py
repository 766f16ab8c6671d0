"""Validating a send: text must be real Unicode (recipients: tests/test_phones.py)."""

from __future__ import annotations

import pytest

from waorch.core.intake import parse_text
from waorch.errors import BadRequest


def test_text_with_a_lone_surrogate_is_not_text() -> None:
    assert parse_text("שלום 👋") == "שלום 👋"
    with pytest.raises(BadRequest) as refused:
        parse_text("hi \ud800")
    assert refused.value.code == "INVALID_TEXT"
