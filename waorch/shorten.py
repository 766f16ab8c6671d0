"""Shortening a reason or an error for storage: the end of an error says what went wrong, so the
middle goes (``failed to dial … Get "…": dial tcp: lookup web.whatsapp.com: no such host`` keeps
its cause)."""

from __future__ import annotations

MARK = " … "


def shorten(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters; else its start and its (longer) end around `` … ``."""
    if len(text) <= limit:
        return text
    head = max(0, (limit - len(MARK)) // 3)
    tail = max(0, limit - len(MARK) - head)
    return text[:head] + MARK + text[len(text) - tail :] if tail else text[:limit]
