"""The OpenAPI 3.1 document, assembled from route tables (nothing here knows a path or a handler)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from waorch.api.routing import Route

PATH_PARAMETER = re.compile(r"\{(\w+)\}")
INFO = {
    "title": "waorch",
    "version": "0.1.0",
    "description": "Orchestrates WhatsApp sessions, each in its own worker behind its own SOCKS5 proxy.",
}
SECURITY_SCHEMES = {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}


def path_parameters(path: str) -> list[dict[str, Any]]:
    """The parameters a path template names (``/api/sessions/{id}``: ``id``)."""
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in PATH_PARAMETER.findall(path)
    ]


def openapi_document(routes: Iterable[Route], schemas: dict[str, Any]) -> dict[str, Any]:
    """The document of every route that has an operation; ``schemas``: the components they refer to."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if route.operation is None:
            continue
        item = paths.setdefault(route.path, {})
        if parameters := path_parameters(route.path):
            item["parameters"] = parameters
        item[route.method.lower()] = route.operation
    return {
        "openapi": "3.1.0",
        "info": INFO,
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
        "security": [{"apiKey": []}],
        "paths": paths,
    }
