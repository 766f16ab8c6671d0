"""Redis replies as the Python types the stores return: checked once, where a reply is read.

Every waorch client decodes its replies (``decode_responses=True``: ``redis_server.redis_client``,
``embedded_redis``), so a string reply is a ``str``. redis-py's types cannot know that: they say
``bytes | str``, a union of shapes where a flag such as ``withscores`` changes the reply, and
``Any`` for a Lua script's reply. These functions check a reply's shape and return it typed (a
``TypeError`` names a reply of another shape), so each store's annotations say what it returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def as_str(reply: object) -> str:
    """A string reply (``bytes`` only from a client that does not decode)."""
    if isinstance(reply, str):
        return reply
    if isinstance(reply, bytes):
        return reply.decode()
    raise TypeError(f"Redis replied {type(reply).__name__}, not a string")


def as_optional_str(reply: object) -> str | None:
    """A string reply, or ``None`` for a nil one (a missing key or field)."""
    return None if reply is None else as_str(reply)


def as_int(reply: object) -> int:
    """An integer reply (a Lua number), or a number stored as a string."""
    if isinstance(reply, int | str | bytes):
        return int(reply)
    raise TypeError(f"Redis replied {type(reply).__name__}, not an integer")


def as_list(reply: object) -> list[object]:
    """An array reply (a set's members too: redis-py hands them over as a ``set``)."""
    if isinstance(reply, list | tuple | set):
        return list(reply)
    raise TypeError(f"Redis replied {type(reply).__name__}, not an array")


def as_strs(reply: object) -> list[str]:
    """An array of strings (members of a set, a list or a sorted set, a Lua script's array)."""
    return [as_str(item) for item in as_list(reply)]


def as_scored(reply: Iterable[object]) -> list[tuple[str, float]]:
    """A sorted-set range read ``withscores``: ``(member, score)`` pairs."""
    return [_scored_pair(as_list(row)) for row in reply]


def _scored_pair(row: list[object]) -> tuple[str, float]:
    member, score = row
    if isinstance(score, int | float | str | bytes):
        return as_str(member), float(score)
    raise TypeError(f"Redis replied {type(score).__name__}, not a score")


def as_str_hash(reply: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    """A hash (``HGETALL``) with its field names and values as strings."""
    return {as_str(name): as_str(value) for name, value in reply.items()}
