"""Redis hashes to dataclasses: the one converter every store reads its records with.

Redis keeps every field as a string. A record's dataclass says what each field is (``str``,
``int``, ``float``); ``from_redis_hash`` turns the stored strings into those types, the same way
for every record: a number may be written as ``"3"`` or ``"3.0"`` (versions and Lua scripts
have written both), an empty string is a number's zero, a field the dataclass does not know is
ignored (an older or newer version's), and a field that is absent takes its default.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")
Raw = str | int | float  # a hash field (str), or a number a Lua script returned
# A hash as a store holds it, or as redis-py types an ``HGETALL`` reply (our clients decode: all str).
Hash = Mapping[str, Raw] | Mapping[bytes | str, bytes | str]


def _integer(raw: Raw) -> int:
    if isinstance(raw, int):
        return raw
    try:
        return int(raw or 0)
    except ValueError:
        return int(float(raw))  # "3.0" (a number written through a float), or an error naming the text


def _number(raw: Raw) -> float:
    return float(raw or 0)


_CONVERTERS: dict[object, Callable[[Raw], Any]] = {int: _integer, float: _number, str: str}
_FIELDS: dict[type, dict[str, Callable[[Raw], Any]]] = {}


def _fields(cls: type) -> dict[str, Callable[[Raw], Any]]:
    """Each field of ``cls`` with the converter of its type (resolved once per class)."""
    if cls not in _FIELDS:
        hints = typing.get_type_hints(cls)
        _FIELDS[cls] = {field.name: _CONVERTERS[hints[field.name]] for field in dataclasses.fields(cls)}
    return _FIELDS[cls]


def from_redis_hash(cls: type[T], data: Hash) -> T:
    """A ``cls`` (a dataclass of ``str``, ``int`` and ``float`` fields) from a hash as Redis returns it."""
    converters = _fields(cls)
    # Every waorch client decodes (redis_replies): an HGETALL reply's names and values are str. Not
    # checked field by field here: this runs for every record read, and checking made it 40% slower.
    fields = typing.cast(Mapping[str, Raw], data)
    return cls(**{name: converters[name](raw) for name, raw in fields.items() if name in converters})
