"""Shared pieces of the HTTP handlers: the core of an app and JSON body parsing."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from waorch.core.orchestrator import Core
from waorch.errors import BadRequest

CORE: web.AppKey[Core] = web.AppKey("core", Core)


def core_of(request: web.Request) -> Core:
    """The core serving this request."""
    return request.app[CORE]


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object (``BAD_REQUEST`` if it is not one; empty body → ``{}``)."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body
