"""The proxy pool: list, add, remove (never with a password in an answer)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from waorch.api.inputs import JsonObject, optional_string
from waorch.api.routing import Route, core_of
from waorch.api.spec import NULLABLE_STRING, errors, json_of, object_of, ref
from waorch.core.proxy_pool import ProxyInfo
from waorch.errors import BadRequest, InvalidProxy

PROXY: dict[str, Any] = {
    "type": "object",
    "required": ["id", "url", "endpoint", "status", "load", "max", "sessions", "phones", "source"],
    "properties": {
        "id": {"type": "string"},
        "url": {"type": "string"},
        "endpoint": {"type": "string"},
        "status": {"enum": ["ok", "bad"]},
        "badUntil": {"type": ["integer", "null"]},
        "reason": NULLABLE_STRING,
        "source": {"type": "string"},
        "load": {"type": "integer"},
        "max": {"type": "integer"},
        "sessions": {"type": "array", "items": {"type": "string"}},
        "phones": {"type": "array", "items": {"type": "string"}},
    },
}
NEW_PROXY = JsonObject({"url": {"type": "string"}}, ("url",), {"url": "socks5h://user:pass@127.0.0.1:1080"})


def proxy_json(info: ProxyInfo) -> dict[str, Any]:
    """A proxy with its URL redacted, its load and its sessions."""
    return {
        "id": info.id,
        "url": info.url,
        "endpoint": info.endpoint,
        "status": info.status,
        "badUntil": info.bad_until_ms or None,
        "reason": info.reason or None,
        "source": info.source,
        "load": len(info.sessions),
        "max": info.max_sessions,
        "sessions": list(info.sessions),
        "phones": list(info.phones),
    }


def proxy_from_json(body: dict[str, Any]) -> ProxyInfo:
    """A proxy as an API answered it (for a client of the API)."""
    return ProxyInfo(
        str(body["id"]),
        str(body["url"]),
        str(body["endpoint"]),
        str(body["status"]),
        int(body["badUntil"] or 0),
        str(body["reason"] or ""),
        str(body["source"]),
        tuple(body["sessions"]),
        tuple(body["phones"]),
        int(body["max"]),
    )


async def list_proxies(request: web.Request) -> web.Response:
    """``GET /api/proxies``."""
    return web.json_response({"proxies": [proxy_json(info) for info in await core_of(request).pool.list()]})


async def add_proxy(request: web.Request) -> web.Response:
    """``POST /api/proxies {url}`` → 201."""
    body = await NEW_PROXY.read(request)
    if "url" not in body:
        raise BadRequest("field url is required", code="INVALID_PROXY")
    info = await core_of(request).add_proxy(optional_string(body, "url", InvalidProxy) or "")
    return web.json_response(proxy_json(info), status=201)


async def delete_proxy(request: web.Request) -> web.Response:
    """``DELETE /api/proxies/{id}`` (``PROXY_IN_USE`` while it carries sessions)."""
    await core_of(request).pool.remove(request.match_info["id"])
    return web.json_response({"deleted": True, "id": request.match_info["id"]})


ROUTES = (
    Route(
        "GET",
        "/api/proxies",
        list_proxies,
        {
            "summary": "List proxies",
            "responses": {
                "200": object_of({"proxies": {"type": "array", "items": ref("Proxy")}}, "proxies"),
                **errors(),
            },
        },
    ),
    Route(
        "POST",
        "/api/proxies",
        add_proxy,
        {
            "summary": "Add a proxy",
            "requestBody": NEW_PROXY.spec(),
            "responses": {"201": json_of(ref("Proxy"), "added"), **errors(400, 409)},
        },
    ),
    Route(
        "DELETE",
        "/api/proxies/{id}",
        delete_proxy,
        {
            "summary": "Remove an idle proxy",
            "responses": {
                "200": object_of({"deleted": {"type": "boolean"}, "id": {"type": "string"}}, "removed"),
                **errors(404, 409),
            },
        },
    ),
)
