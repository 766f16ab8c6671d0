"""REST handlers for sessions and proxies (``X-API-Key`` checked by middleware)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from waorch.errors import BadRequest
from waorch.webhook_server.common import core_of, json_body


def _only(body: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    unknown = set(body) - allowed
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(sorted(unknown))}")
    return body


async def provision(request: web.Request) -> web.Response:
    """``POST /api/sessions/provision {phone?, proxy?}`` → 201."""
    core = core_of(request)
    body = _only(await json_body(request), {"phone", "proxy"})
    session = await core.provision(body.get("phone"), body.get("proxy"))
    return web.json_response(await core.session_view(session), status=201)


async def list_sessions(request: web.Request) -> web.Response:
    """``GET /api/sessions``."""
    core = core_of(request)
    names = {info.id: info.url for info in await core.pool.list()}
    starts = await core.starts.schedule()
    return web.json_response({"sessions": [await core.session_view(s, names, starts) for s in await core.store.list()]})


async def get_session(request: web.Request) -> web.Response:
    """``GET /api/sessions/{id}`` (with ``qr`` while ``qr_ready``)."""
    core = core_of(request)
    session = await core.store.get(request.match_info["id"])
    body = await core.session_view(session)
    body["history"] = await core.store.history(session.id)
    return web.json_response(body)


async def delete_session(request: web.Request) -> web.Response:
    """``DELETE /api/sessions/{id}``: worker stopped, proxy slot freed."""
    await core_of(request).delete(request.match_info["id"])
    return web.json_response({"deleted": True, "sessionId": request.match_info["id"]})


async def restart_session(request: web.Request) -> web.Response:
    """``POST /api/sessions/{id}/restart`` → 202."""
    core = core_of(request)
    session = await core.restart(request.match_info["id"])
    return web.json_response(await core.session_view(session), status=202)


async def logout_session(request: web.Request) -> web.Response:
    """``POST /api/sessions/{id}/logout`` → 202 (auth data deleted when the worker confirms)."""
    await core_of(request).logout(request.match_info["id"])
    return web.json_response({"loggingOut": True, "sessionId": request.match_info["id"]}, status=202)


async def pairing_code(request: web.Request) -> web.Response:
    """``POST /api/sessions/{id}/pairing-code {phone}`` → the code to type on that phone."""
    body = _only(await json_body(request), {"phone"})
    code = await core_of(request).pairing_code(request.match_info["id"], body.get("phone"))
    return web.json_response({"sessionId": request.match_info["id"], "code": code})


async def list_proxies(request: web.Request) -> web.Response:
    """``GET /api/proxies``."""
    return web.json_response({"proxies": [p.to_dict() for p in await core_of(request).pool.list()]})


async def add_proxy(request: web.Request) -> web.Response:
    """``POST /api/proxies {url}`` → 201."""
    body = _only(await json_body(request), {"url"})
    if "url" not in body:
        raise BadRequest("field url is required", code="INVALID_PROXY")
    info = await core_of(request).add_proxy(body["url"])
    return web.json_response(info.to_dict(), status=201)


async def delete_proxy(request: web.Request) -> web.Response:
    """``DELETE /api/proxies/{id}`` (``PROXY_IN_USE`` while it carries sessions)."""
    await core_of(request).pool.remove(request.match_info["id"])
    return web.json_response({"deleted": True, "id": request.match_info["id"]})


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the REST routes."""
    router.add_post("/api/sessions/provision", provision)
    router.add_get("/api/sessions", list_sessions)
    router.add_get("/api/sessions/{id}", get_session)
    router.add_delete("/api/sessions/{id}", delete_session)
    router.add_post("/api/sessions/{id}/restart", restart_session)
    router.add_post("/api/sessions/{id}/logout", logout_session)
    router.add_post("/api/sessions/{id}/pairing-code", pairing_code)
    router.add_get("/api/proxies", list_proxies)
    router.add_post("/api/proxies", add_proxy)
    router.add_delete("/api/proxies/{id}", delete_proxy)
