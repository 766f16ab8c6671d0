"""``GET /health``: whether Redis answers, the core's state, what a 202 guarantees, the fleet in numbers."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from waorch.api.routing import Route, core_of
from waorch.api.spec import NULLABLE_STRING, json_of, ref
from waorch.core.redis_server import Durability
from waorch.core.views import Health

HEALTH: dict[str, Any] = {
    "type": "object",
    "required": ["status", "redis", "core"],
    "properties": {
        "status": {"enum": ["ok", "degraded", "unavailable"]},
        "redis": {"type": "boolean"},
        "core": {"type": "string", "description": "active, suspended: why (Redis unavailable), stepped down, ..."},
        "problem": {"type": "string", "description": "while Redis is unavailable: why"},
        "sessions": {"type": "object", "additionalProperties": {"type": "integer"}},
        "proxies": {"type": "object"},
        "durability": {
            "type": "object",
            "description": "what a 202 guarantees on this Redis server",
            "required": ["server", "waitaof", "appendonly", "appendfsync", "powerCutSafe"],
            "properties": {
                "server": {"type": "string"},
                "waitaof": {"type": "boolean"},
                "appendonly": NULLABLE_STRING,
                "appendfsync": NULLABLE_STRING,
                "powerCutSafe": {"type": "boolean"},
            },
        },
    },
}


def durability_json(durability: Durability) -> dict[str, Any]:
    """What a 202 guarantees on this server (the server's own settings under their own names)."""
    said = {name: getattr(durability, name) for name in ("server", "waitaof", "appendonly", "appendfsync")}
    return {**said, "powerCutSafe": durability.power_cut_safe}


def health_json(health: Health) -> dict[str, Any]:
    """The answer of ``/health`` (while Redis does not answer: only the core's state and why)."""
    if not health.redis:
        return {"status": "unavailable", "redis": False, "core": health.state, "problem": health.problem}
    body: dict[str, Any] = {
        "status": "ok" if health.state == "active" else "degraded",
        "redis": True,
        "core": health.state,
        "sessions": health.sessions,
        "proxies": {"total": health.proxies, "bad": health.bad_proxies},
    }
    if health.durability is not None:
        body["durability"] = durability_json(health.durability)
    return body


async def health(request: web.Request) -> web.Response:
    """``GET /health`` (no key needed): 200, or 503 while Redis does not answer."""
    report = await core_of(request).health()
    return web.json_response(health_json(report), status=200 if report.redis else 503)


ROUTES = (
    Route(
        "GET",
        "/health",
        health,
        {
            "summary": "Redis reachable and counts by status",
            "security": [],
            "responses": {"200": json_of(ref("Health"), "healthy"), "503": json_of(ref("Health"), "Redis unreachable")},
        },
        public=True,
    ),
)
