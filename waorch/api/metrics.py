"""``GET /metrics``: the Prometheus text format (behind X-API-Key; without it on ``METRICS_HOST:METRICS_PORT``)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from waorch.api.routing import Route, core_of
from waorch.api.spec import errors

PATH = "/metrics"


async def metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: every metric, read now."""
    body = await core_of(request).metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


OPERATION = {
    "summary": "Prometheus metrics in the text format (also on METRICS_HOST:METRICS_PORT, without the key, if set)",
    "description": "Sessions by status, queue depth and today's messages per session, messages accepted, "
    "scheduled, dead and unknown, send lateness, worker events by type, worker restarts, proxy load and BAD "
    "proxies, alerts by delivery, the daily jobs. Labels are session ids, proxy ids, statuses, event types and "
    "outcomes, never a phone number or a message id.",
    "responses": {
        "200": {
            "description": "the metrics",
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
        },
        **errors(),
    },
}
ROUTES = (Route("GET", PATH, metrics, OPERATION),)
PUBLIC_ROUTES = (Route("GET", PATH, metrics, public=True),)  # the scraper's own address
