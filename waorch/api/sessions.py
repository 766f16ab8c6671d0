"""Sessions: provision, read, restart, log out, pair by code, delete."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from waorch.api.inputs import JsonObject, optional_string
from waorch.api.routing import Route, core_of
from waorch.api.spec import NULLABLE_NUMBER, NULLABLE_STRING, errors, json_of, object_of, ref
from waorch.core.account_health import GRADES, PART_NAMES, WINDOW_DAYS, Report
from waorch.core.core import Core
from waorch.core.sessions import Session, Status
from waorch.errors import InvalidPhone, InvalidProxy, SessionNotFound

SESSION: dict[str, Any] = {
    "type": "object",
    "required": ["sessionId", "status", "proxy", "proxyId", "phone", "created", "restarts"],
    "properties": {
        "sessionId": {"type": "string", "pattern": "^worker_[0-9]+$"},
        "status": {"enum": [status.value for status in Status]},
        "proxy": {**NULLABLE_STRING, "description": "proxy URL with the password replaced by ***"},
        "proxyId": NULLABLE_STRING,
        "phone": NULLABLE_STRING,
        "created": {"type": "number"},
        "connectedSince": NULLABLE_NUMBER,
        "lastPing": NULLABLE_NUMBER,
        "reason": NULLABLE_STRING,
        "hint": {
            **NULLABLE_STRING,
            "description": "what to check about reason (a failed connection: DNS, network, TLS, the proxy's "
            "address, credentials or answers), if anything",
        },
        "nextStartAt": {
            **NULLABLE_NUMBER,
            "description": "unix seconds when the worker's next start is due (a queued start, or a restart after "
            "its backoff); null if none is queued",
        },
        "restarts": {"type": "integer"},
        "tierPin": NULLABLE_STRING,
        "paused": {"type": "boolean"},
        "firstConnected": NULLABLE_NUMBER,
        "banUntil": NULLABLE_NUMBER,
        "breaker": {
            "type": ["object", "null"],
            "description": "the failure breaker's last trip, until an operator resumes the session: its sending "
            "holds until `until` (past: over), and why",
            "required": ["until", "reason"],
            "properties": {"until": {"type": "number"}, "reason": {"type": "string"}},
        },
        "engine": {"enum": ["neonize", "sim", None], "description": "the worker engine it was created with, and keeps"},
        "health": {
            "type": ["object", "null"],
            "description": "its health score (GET /api/sessions/{id}/health has the parts); null if it was deleted "
            "meanwhile",
            "required": ["score", "grade"],
            "properties": {
                "score": {"type": "integer", "minimum": 0, "maximum": 100},
                "grade": {"enum": list(GRADES)},
            },
        },
        "qr": {"type": "string", "description": "current QR payload, only while qr_ready"},
        "qrExpiresAt": {"type": "number"},
        "history": {"type": "array", "items": {"type": "object"}},
    },
}
HEALTH_PART = {
    "type": "object",
    "required": ["name", "penalty", "most", "detail"],
    "properties": {
        "name": {"enum": list(PART_NAMES)},
        "penalty": {"type": "integer", "minimum": 0, "description": "points it takes from 100"},
        "most": {"type": "integer", "description": "the most it can take"},
        "detail": {"type": "string", "description": "what it saw, e.g. 12 of 140 sends failed"},
    },
}
HEALTH_REPORT = {
    "type": "object",
    "required": ["sessionId", "score", "grade", "days", "parts"],
    "properties": {
        "sessionId": {"type": "string"},
        "score": {"type": "integer", "minimum": 0, "maximum": 100, "description": "100 less the parts' penalties"},
        "grade": {"enum": list(GRADES), "description": "good from 80, fair from 50, poor below"},
        "days": {"type": "integer", "description": "the local days the parts count over (today included)"},
        "parts": {"type": "array", "items": HEALTH_PART},
    },
}
NEW_SESSION = JsonObject(
    {"phone": {"type": "string"}, "proxy": {"type": "string", "description": "socks5h:// or socks5:// URL"}},
    example={"phone": "+972 50-111-2222"},
)
PAIRING = JsonObject({"phone": {"type": "string"}}, ("phone",), {"phone": "+972 50-111-2222"})


def session_json(
    session: Session, proxy_url: str | None, next_start: float | None, health: Report | None
) -> dict[str, Any]:
    """A session as the API shows it: its proxy by id and redacted URL, when its worker's next start is due,
    its health score, its QR while it shows one, never the worker's command address."""
    body: dict[str, Any] = {
        "sessionId": session.id,
        "status": session.status,
        "proxy": proxy_url,
        "proxyId": session.proxy or None,
        "phone": session.phone or None,
        "created": session.created,
        "connectedSince": session.connected_since or None,
        "lastPing": session.last_ping or None,
        "reason": session.reason or None,
        "hint": session.hint or None,
        "nextStartAt": next_start,
        "restarts": session.restarts,
        "tierPin": session.tier_pin or None,
        "paused": bool(session.paused),
        "firstConnected": session.first_connected or None,
        "banUntil": session.ban_until or None,
        "breaker": {"until": session.breaker_until, "reason": session.breaker_reason}
        if session.breaker_until
        else None,
        "engine": session.engine or None,
        "health": {"score": health.score, "grade": health.grade} if health else None,
    }
    if session.status == Status.QR_READY and session.qr:
        body["qr"] = session.qr
        body["qrExpiresAt"] = session.qr_expires
    return body


async def proxy_urls(core: Core) -> dict[str, str]:
    """Every proxy's redacted URL by its id."""
    return {info.id: info.url for info in await core.pool.list()}


async def session_answer(core: Core, session: Session) -> dict[str, Any]:
    """``session_json`` with the URL of the session's proxy, its next start and its health score."""
    proxy_url = (await proxy_urls(core)).get(session.proxy) if session.proxy else None
    return session_json(
        session, proxy_url, await core.starts.due_at(session.id), await core.account_health.report(session.id)
    )


async def provision(request: web.Request) -> web.Response:
    """``POST /api/sessions/provision {phone?, proxy?}`` → 201."""
    core = core_of(request)
    body = await NEW_SESSION.read(request)
    session = await core.provision(
        optional_string(body, "phone", InvalidPhone), optional_string(body, "proxy", InvalidProxy)
    )
    return web.json_response(await session_answer(core, session), status=201)


async def list_sessions(request: web.Request) -> web.Response:
    """``GET /api/sessions``."""
    core = core_of(request)
    urls, starts = await proxy_urls(core), await core.starts.schedule()
    health = {report.session_id: report for report in await core.account_health.reports()}
    sessions = [session_json(s, urls.get(s.proxy), starts.get(s.id), health.get(s.id)) for s in await core.store.list()]
    return web.json_response({"sessions": sessions})


async def get_session(request: web.Request) -> web.Response:
    """``GET /api/sessions/{id}`` (with ``qr`` while ``qr_ready``)."""
    core = core_of(request)
    session = await core.store.get(request.match_info["id"])
    body = await session_answer(core, session)
    body["history"] = await core.store.history(session.id)
    return web.json_response(body)


async def session_health(request: web.Request) -> web.Response:
    """``GET /api/sessions/{id}/health``: the score and each part of it."""
    session_id = request.match_info["id"]
    report = await core_of(request).account_health.report(session_id)
    if report is None:
        raise SessionNotFound(f"no session {session_id}", session_id=session_id)
    return web.json_response(health_json(report))


def health_json(report: Report) -> dict[str, Any]:
    """A health report as the API shows it."""
    parts = [{"name": p.name, "penalty": p.penalty, "most": p.most, "detail": p.detail} for p in report.parts]
    return {
        "sessionId": report.session_id,
        "score": report.score,
        "grade": report.grade,
        "days": WINDOW_DAYS,
        "parts": parts,
    }


async def delete_session(request: web.Request) -> web.Response:
    """``DELETE /api/sessions/{id}``: worker stopped, proxy slot freed."""
    await core_of(request).delete(request.match_info["id"])
    return web.json_response({"deleted": True, "sessionId": request.match_info["id"]})


async def restart_session(request: web.Request) -> web.Response:
    """``POST /api/sessions/{id}/restart`` → 202."""
    core = core_of(request)
    session = await core.restart(request.match_info["id"])
    return web.json_response(await session_answer(core, session), status=202)


async def logout_session(request: web.Request) -> web.Response:
    """``POST /api/sessions/{id}/logout`` → 202 (auth data deleted when the worker confirms)."""
    await core_of(request).logout(request.match_info["id"])
    return web.json_response({"loggingOut": True, "sessionId": request.match_info["id"]}, status=202)


async def pairing_code(request: web.Request) -> web.Response:
    """``POST /api/sessions/{id}/pairing-code {phone}`` → the code to type on that phone."""
    body = await PAIRING.read(request)
    code = await core_of(request).pairing_code(
        request.match_info["id"], optional_string(body, "phone", InvalidPhone) or ""
    )
    return web.json_response({"sessionId": request.match_info["id"], "code": code})


PAIRING_REFUSED = (
    "NOT_PAIRABLE: the session is not showing a QR (the message names its status and "
    "what to do, e.g. restart it); or the worker refused (e.g. NOT_IN_QR_PHASE)"
)
ROUTES = (
    Route(
        "POST",
        "/api/sessions/provision",
        provision,
        {
            "summary": "Create a session and queue its worker",
            "requestBody": NEW_SESSION.spec(),
            "responses": {
                "201": json_of(ref("Session"), "created"),
                **errors(400, 409, unavailable=("NO_PROXY_CAPACITY",)),
            },
        },
    ),
    Route(
        "GET",
        "/api/sessions",
        list_sessions,
        {
            "summary": "List sessions",
            "responses": {
                "200": object_of({"sessions": {"type": "array", "items": ref("Session")}}, "sessions"),
                **errors(),
            },
        },
    ),
    Route(
        "GET",
        "/api/sessions/{id}",
        get_session,
        {
            "summary": "One session (with qr while qr_ready)",
            "responses": {"200": json_of(ref("Session"), "session"), **errors(404)},
        },
    ),
    Route(
        "GET",
        "/api/sessions/{id}/health",
        session_health,
        {
            "summary": "The session's health score and its parts (what waorch saw over the last days)",
            "responses": {"200": json_of(HEALTH_REPORT, "health"), **errors(404)},
        },
    ),
    Route(
        "DELETE",
        "/api/sessions/{id}",
        delete_session,
        {
            "summary": "Stop the worker, free the proxy slot, delete the session and every key of it",
            "responses": {
                "200": object_of({"deleted": {"type": "boolean"}, "sessionId": {"type": "string"}}, "deleted"),
                **errors(404),
            },
        },
    ),
    Route(
        "POST",
        "/api/sessions/{id}/restart",
        restart_session,
        {
            "summary": "Queue a restart of the worker",
            "responses": {"202": json_of(ref("Session"), "queued"), **errors(404)},
        },
    ),
    Route(
        "POST",
        "/api/sessions/{id}/logout",
        logout_session,
        {
            "summary": "Log the session out of WhatsApp",
            "responses": {
                "202": object_of({"loggingOut": {"type": "boolean"}, "sessionId": {"type": "string"}}, "logging out"),
                **errors(404),
                "409": json_of(ref("Error"), "the worker cannot log out now (e.g. NOT_CONNECTED while it shows a QR)"),
            },
        },
    ),
    Route(
        "POST",
        "/api/sessions/{id}/pairing-code",
        pairing_code,
        {
            "summary": "A pairing code to link a phone without scanning (while the QR is shown)",
            "requestBody": PAIRING.spec(),
            "responses": {
                "200": object_of(
                    {
                        "sessionId": {"type": "string"},
                        "code": {"type": "string", "pattern": "^[A-Z0-9]{4}-[A-Z0-9]{4}$"},
                    },
                    "code",
                ),
                **errors(400, 404, unavailable=("WORKER_UNREACHABLE",)),
                "409": json_of(ref("Error"), PAIRING_REFUSED),
            },
        },
    ),
)
