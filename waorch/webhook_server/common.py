"""Shared pieces of the HTTP handlers: the core of an app and the one reader of JSON bodies."""

from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import web

from waorch.core.orchestrator import Core
from waorch.errors import BadRequest

CORE: web.AppKey[Core] = web.AppKey("core", Core)
MAX_DEPTH = 32  # our deepest document is 3 levels; deeper nesting is refused before anything reads it
MAX_INTEGER = 2**53  # beyond this a JSON number is not exact in most clients


def core_of(request: web.Request) -> Core:
    """The core serving this request."""
    return request.app[CORE]


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadRequest(f"number {text[:20]} is out of range (numbers must be finite)")
    return value


def _bounded(text: str) -> int:
    if len(text.lstrip("-")) > len(str(MAX_INTEGER)) or abs(value := int(text)) > MAX_INTEGER:
        raise BadRequest(f"number {text[:20]} is out of range (whole numbers must be within ±2**53)")
    return value


def _no_constant(name: str) -> None:
    raise BadRequest(f"{name} is not a number JSON allows")


_DECODER = json.JSONDecoder(parse_float=_finite, parse_int=_bounded, parse_constant=_no_constant)


def _check_tree(document: Any) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` and strings that are not Unicode text (a lone surrogate escape)."""
    pending = [(document, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, str):
            if not node.isascii() and not _encodable(node):
                raise BadRequest("body holds text that is not valid Unicode (a lone surrogate escape)", code="INVALID_TEXT")
        elif isinstance(node, (dict, list)):
            if depth > MAX_DEPTH:
                raise BadRequest(f"body is nested deeper than {MAX_DEPTH} levels")
            children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
            pending.extend((child, depth + 1) for child in children)


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def read_json(raw: bytes) -> Any:
    """A JSON document from a request body (``BAD_REQUEST``: not UTF-8 JSON, NaN / Infinity / a number out of
    range, nested deeper than ``MAX_DEPTH``; ``INVALID_TEXT``: a string that is not Unicode)."""
    try:
        document = _DECODER.decode(raw.decode())
    except RecursionError:
        raise BadRequest(f"body is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:  # UnicodeDecodeError included
        raise BadRequest("body is not valid JSON (UTF-8)") from None
    _check_tree(document)
    return document


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object (``BAD_REQUEST`` if it is not one; empty body → ``{}``)."""
    raw = await request.read()
    if not raw.strip():
        return {}
    body = read_json(raw)
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body
