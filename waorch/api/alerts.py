"""The alerts (what goes to Telegram) with their delivery state, newest first."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from waorch.api.inputs import WholeQuery, only_queries
from waorch.api.routing import Route, core_of
from waorch.api.spec import NULLABLE_NUMBER, NULLABLE_STRING, errors, object_of
from waorch.core.alerts import DELIVERIES, KEEP, Alert, AlertKind

DEFAULT_PAGE = 50
LIMIT = WholeQuery("limit", 1, KEEP, f"how many (default {DEFAULT_PAGE}; the newest {KEEP} are kept)")
ALERT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "at", "kind", "level", "sessionId", "phone", "text", "delivery", "sentAt", "error"],
    "properties": {
        "id": {"type": "integer", "description": "sequence number, newest highest"},
        "at": {"type": "number", "description": "raised, unix seconds"},
        "kind": {"enum": [kind.value for kind in AlertKind]},
        "level": {"enum": ["info", "warning", "error"]},
        "sessionId": NULLABLE_STRING,
        "phone": {**NULLABLE_STRING, "description": "the session's phone as stored (digits)"},
        "text": {"type": "string", "description": "what happened (never with a secret)"},
        "delivery": {
            "enum": list(DELIVERIES),
            "description": "queued: waiting to be sent; sent; failed: Telegram refused it (error says why); "
            "summarised: not sent on its own but counted in a line of a later message (a repeat "
            "within the cool-down, or dropped from a full queue); off: Telegram is not configured",
        },
        "sentAt": {**NULLABLE_NUMBER, "description": "delivered, unix seconds"},
        "error": NULLABLE_STRING,
    },
}


def alert_json(alert: Alert) -> dict[str, Any]:
    """An alert as the API shows it."""
    return {
        "id": alert.id,
        "at": alert.at,
        "kind": alert.kind,
        "level": alert.level,
        "sessionId": alert.session or None,
        "phone": alert.phone or None,
        "text": alert.text,
        "delivery": alert.delivery,
        "sentAt": alert.sent_at or None,
        "error": alert.error or None,
    }


async def list_alerts(request: web.Request) -> web.Response:
    """``GET /api/alerts?limit=``: Telegram on or off, alerts waiting, the newest alerts."""
    core = core_of(request)
    only_queries(request, LIMIT)
    limit = LIMIT.read(request) or DEFAULT_PAGE
    alerts = await core.alerts.recent(limit)
    return web.json_response(
        {
            "telegram": core.telegram is not None,
            "pending": await core.alerts.pending(),
            "alerts": [alert_json(alert) for alert in alerts],
        }
    )


ROUTES = (
    Route(
        "GET",
        "/api/alerts",
        list_alerts,
        {
            "summary": "Alerts (sent to Telegram when TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are set), newest first",
            "parameters": [LIMIT.spec()],
            "responses": {
                "200": object_of(
                    {
                        "telegram": {"type": "boolean", "description": "alerts are sent to Telegram"},
                        "pending": {"type": "integer", "description": "alerts waiting to be sent"},
                        "alerts": {"type": "array", "items": ALERT},
                    },
                    "alerts",
                ),
                **errors(400),
            },
        },
    ),
)
