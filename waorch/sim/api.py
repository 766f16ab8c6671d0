"""The simulator API (``/sim/...``): play the phones and the network around the workers.

Every answer is JSON; refusals are ``{"error": CODE, "message": ...}`` with a 4xx status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from waorch.sim.network import MAX_TEXT, NETWORK, SimNetwork
from waorch.sim.state import SimError, check_phone, new_wa_id

MAX_BAN_SECONDS = 30 * 86400
DEFAULT_BAN_CODE = 101
HTTP_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn refusals (ours and aiohttp's) into JSON error answers."""
    try:
        return await handler(request)
    except SimError as exc:
        return web.json_response(exc.to_dict(), status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = HTTP_CODES.get(exc.status, "HTTP_ERROR")
        return web.json_response({"error": code, "message": exc.reason}, status=exc.status)


def add_routes(app: web.Application) -> None:
    """Register the control API on ``app``."""
    app.router.add_get("/sim/health", health)
    app.router.add_get("/sim/devices", devices)
    app.router.add_post("/sim/scan", scan)
    app.router.add_post("/sim/link-code", link_code)
    app.router.add_post("/sim/unregistered", unregistered)
    app.router.add_get("/sim/phones/{phone}/messages", messages)
    app.router.add_get("/sim/phones/{phone}/presences", presences)
    app.router.add_get("/sim/phones/{phone}/lookups", lookups)
    app.router.add_post("/sim/phones/{phone}/incoming", incoming)
    app.router.add_post("/sim/phones/{phone}/disconnect", disconnect)
    app.router.add_post("/sim/phones/{phone}/logout", logout)
    app.router.add_post("/sim/phones/{phone}/ban", ban)


async def read_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or ``BAD_REQUEST``."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise SimError("BAD_REQUEST", "the body must be a JSON object")
    return body


def text_field(body: dict[str, Any], name: str) -> str:
    """A required, non-empty string field of ``body``."""
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise SimError("BAD_REQUEST", f"{name} is required and must be a non-empty string")
    return value


def number_field(body: dict[str, Any], name: str) -> float:
    """A required numeric field of ``body``."""
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SimError("BAD_REQUEST", f"{name} must be a number")
    return value


async def health(request: web.Request) -> web.Response:
    """``GET /sim/health``: alive, with device counts."""
    known = request.app[NETWORK].state.devices.values()
    return web.json_response({"ok": True, "devices": len(known), "connected": sum(d.connected for d in known)})


async def devices(request: web.Request) -> web.Response:
    """``GET /sim/devices``: every device, paired or showing a QR code."""
    return web.json_response([device.summary() for device in request.app[NETWORK].state.devices.values()])


async def scan(request: web.Request) -> web.Response:
    """``POST /sim/scan {qr, phone}``: the phone scans a QR code."""
    body = await read_body(request)
    qr, phone = text_field(body, "qr"), check_phone(text_field(body, "phone"))
    device = request.app[NETWORK].state.scan(qr, phone)
    return web.json_response({"deviceId": device.id, "phone": phone})


async def link_code(request: web.Request) -> web.Response:
    """``POST /sim/link-code {phone, code}``: the phone enters a pairing code."""
    body = await read_body(request)
    phone, code = check_phone(text_field(body, "phone")), text_field(body, "code")
    device = request.app[NETWORK].state.link_code(phone, code)
    return web.json_response({"deviceId": device.id, "phone": phone})


async def unregistered(request: web.Request) -> web.Response:
    """``POST /sim/unregistered {phone}``: this number is not on WhatsApp."""
    net = request.app[NETWORK]
    phone = check_phone(text_field(await read_body(request), "phone"))
    net.state.unregistered.add(phone)
    net.save()
    return web.json_response({"phone": phone, "unregistered": True})


async def messages(request: web.Request) -> web.Response:
    """``GET /sim/phones/{phone}/messages``: what the phone's devices sent, in order."""
    phone = check_phone(request.match_info["phone"])
    return web.json_response(request.app[NETWORK].state.sent.get(phone, []))


async def presences(request: web.Request) -> web.Response:
    """``GET /sim/phones/{phone}/presences``: the typing states the phone's devices showed."""
    phone = check_phone(request.match_info["phone"])
    return web.json_response(request.app[NETWORK].state.presences.get(phone, []))


async def lookups(request: web.Request) -> web.Response:
    """``GET /sim/phones/{phone}/lookups``: the numbers the phone's devices asked about, in order (with ``at``)."""
    phone = check_phone(request.match_info["phone"])
    return web.json_response(request.app[NETWORK].state.lookups.get(phone, []))


async def incoming(request: web.Request) -> web.Response:
    """``POST /sim/phones/{phone}/incoming {from, text}``: someone writes to the phone."""
    net: SimNetwork = request.app[NETWORK]
    phone = check_phone(request.match_info["phone"])
    net.state.known_phone(phone)
    body = await read_body(request)
    sender, text = check_phone(text_field(body, "from"), "from"), text_field(body, "text")
    if len(text) > MAX_TEXT:
        raise SimError("BAD_REQUEST", f"text must be at most {MAX_TEXT} characters")
    wa_id = new_wa_id()
    delivered, queued = await net.deliver(phone, sender, text, wa_id)
    return web.json_response({"waId": wa_id, "delivered": delivered, "queued": queued})


async def disconnect(request: web.Request) -> web.Response:
    """``POST /sim/phones/{phone}/disconnect``: drop the connections; devices stay paired."""
    count = await request.app[NETWORK].disconnect(check_phone(request.match_info["phone"]))
    return web.json_response({"disconnected": count})


async def logout(request: web.Request) -> web.Response:
    """``POST /sim/phones/{phone}/logout``: remove the phone's devices; their logins are void."""
    count = await request.app[NETWORK].logout(check_phone(request.match_info["phone"]))
    return web.json_response({"loggedOut": count})


async def ban(request: web.Request) -> web.Response:
    """``POST /sim/phones/{phone}/ban {seconds, code?}``: a temporary ban."""
    net: SimNetwork = request.app[NETWORK]
    phone = check_phone(request.match_info["phone"])
    net.state.known_phone(phone)
    body = await read_body(request)
    seconds, code = number_field(body, "seconds"), body.get("code", DEFAULT_BAN_CODE)
    if not 0 < seconds <= MAX_BAN_SECONDS or isinstance(code, bool) or not isinstance(code, int):
        raise SimError("BAD_REQUEST", f"seconds must be in (0, {MAX_BAN_SECONDS}] and code an integer")
    result = await net.ban(phone, seconds, code)
    return web.json_response({"phone": phone, "code": result.code, "expiresAt": result.expires_at})
