"""``POST /webhook``: a worker's event, verified with that worker's own key before it is parsed."""

from __future__ import annotations

import re

import redis.asyncio as aioredis
from aiohttp import web

from waorch.api.inputs import read_json
from waorch.api.routing import Route, core_of
from waorch.core import keys
from waorch.core.events import Event
from waorch.errors import SessionNotFound, SignatureError
from waorch.signing import SESSION_HEADER, verify, webhook_key

SESSION_ID = re.compile(r"worker_[0-9]{1,18}")


class RedisReplayGuard:
    """Webhook ids already accepted, kept in Redis for the signature tolerance."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def first_time(self, msg_id: str) -> bool:
        """True the first time an id is seen."""
        return bool(await self.redis.set(keys.webhook_seen(msg_id), 1, nx=True, ex=600))


async def webhook(request: web.Request) -> web.Response:
    """Verify the worker's signature before parsing, then apply the event."""
    core = core_of(request)
    session_id = request.headers.get(SESSION_HEADER, "")
    body = await request.read()
    if not SESSION_ID.fullmatch(session_id):
        raise SignatureError("missing or malformed session header")
    msg_id = verify(webhook_key(core.settings.webhook_secret, session_id), request.headers, body)
    event = Event.parse(read_json(body))
    if event.session_id != session_id:
        raise SignatureError("event is for another session")
    if not await RedisReplayGuard(core.redis).first_time(msg_id):
        raise SignatureError("replayed webhook id")
    if await core.store.find(session_id) is None:
        raise SessionNotFound(f"no session {session_id}", session_id=session_id)
    await core.handle_event(event)
    return web.json_response({"ok": True})


# Public: no API key; the signature of the worker's own key authenticates it.
ROUTES = (Route("POST", "/webhook", webhook, public=True),)
