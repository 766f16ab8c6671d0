"""Phone numbers: one reading for every number waorch takes (API, control room, simulator).

An account is one phone however it is written, so every number becomes its E.164 digits (no
``+``, the way WhatsApp writes its ids) here and nowhere else. International form: ``+972 50-123
4567``, ``00972501234567``, or the digits alone (``972501234567``, as in ``wa.me`` links). National
form (``050-123 4567``) needs ``DEFAULT_REGION``: with it, a number is read as national first and
as international digits second; without it, a number that is not international is refused with
how to fix it.
"""

from __future__ import annotations

import functools

import phonenumbers

from waorch.errors import InvalidPhone

CACHED = 16384  # parsed numbers kept (notification traffic repeats recipients; a parse costs ~40 µs)
EXAMPLE = "+972501234567"


def parse_phone(raw: object, region: str | None, *, field: str = "phone", valid_only: bool = True) -> str:
    """The E.164 digits of ``raw`` (``INVALID_PHONE`` naming ``field`` if it is not a phone number).

    ``valid_only``: the number must be in an allocated range (recipients); otherwise it must only
    have a possible length for its country (the accounts waorch runs, which the simulator invents).
    """
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidPhone(f"{field} must be a phone number like {EXAMPLE}")
    return _e164(raw.strip(), region, field, valid_only)


@functools.lru_cache(maxsize=CACHED)
def _e164(raw: str, region: str | None, field: str, valid_only: bool) -> str:
    """Only numbers that parse are cached: a refusal is raised, never stored."""
    check = phonenumbers.is_valid_number if valid_only else phonenumbers.is_possible_number
    for number in _readings(raw, region):
        if check(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")
    raise InvalidPhone(f"{field} is not {'a valid' if valid_only else 'a'} phone number: {raw!r}{_hint(raw, region)}")


def _readings(raw: str, region: str | None) -> list[phonenumbers.PhoneNumber]:
    """What ``raw`` can mean, in order: national in ``region`` (if set and not written as
    international), then international."""
    international = raw.startswith(("+", "00"))
    texts: list[tuple[str, str | None]] = [(raw, region)] if region and not international else []
    texts.append(("+" + raw.removeprefix("+").removeprefix("00") if international else "+" + raw, None))
    readings = []
    for text, default in texts:
        try:
            readings.append(phonenumbers.parse(text, default))
        except phonenumbers.NumberParseException:
            continue
    return readings


def _hint(raw: str, region: str | None) -> str:
    if region or raw.startswith(("+", "00")):
        return ""
    return f" (write it with + and the country code, like {EXAMPLE}, or set DEFAULT_REGION to read national numbers)"
