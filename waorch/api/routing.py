"""A route: method, path, handler and the OpenAPI operation that describes it, written once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from waorch.core.core import Core

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CORE: web.AppKey[Core] = web.AppKey("core", Core)


@dataclass(frozen=True)
class Route:
    """One operation. ``operation``: its OpenAPI description (``None``: not part of the document);
    ``public``: no ``X-API-Key`` needed (it has none, or authenticates otherwise, like the signed webhook)."""

    method: str
    path: str
    handler: Handler
    operation: dict[str, Any] | None = None
    public: bool = False


def core_of(request: web.Request) -> Core:
    """The core serving this request."""
    return request.app[CORE]


def add_routes(router: web.UrlDispatcher, routes: tuple[Route, ...]) -> None:
    """Register ``routes`` (a GET answers HEAD too, as aiohttp's ``add_get`` does)."""
    for route in routes:
        if route.method == "GET":
            router.add_get(route.path, route.handler)
        else:
            router.add_route(route.method, route.path, route.handler)
