"""What the orchestrator does with each verified worker event."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypedDict

from waorch.core.account_health import BANS, DISCONNECTS, AccountHealth
from waorch.core.breaker import DISCONNECT, Breaker
from waorch.core.dispatcher import Dispatcher
from waorch.core.failover import Failover
from waorch.core.inbox import Inbox
from waorch.core.lifecycle import Lifecycle
from waorch.core.proxy_pool import ProxyPool
from waorch.core.sessions import Session, SessionStore, Status
from waorch.core.worker_client import command_address
from waorch.errors import BadRequest, PhoneLimit
from waorch.shorten import shorten
from waorch.signing import CHANNEL_VERSION

log = logging.getLogger("waorch.events")

EVENT_TYPES = (
    "QR_CODE",
    "CONNECTED",
    "DISCONNECTED",
    "MESSAGE_SENT",
    "MESSAGE_FAILED",
    "MESSAGE_RECEIVED",
    "PING",
    "PROXY_ERROR",
    "AUTH_FAILURE",
    "SEND_RESTRICTED",
)
# Facts that stay true whichever worker generation reported them.
GENERATION_FREE = frozenset({"MESSAGE_SENT", "MESSAGE_FAILED", "MESSAGE_RECEIVED"})
REASON_LIMIT = 300  # characters of a worker's reason (and hint) kept: the start and the end, where the cause is
# Disconnects after which the worker does not come back by itself (the session needs a person).
FINAL_DISCONNECTS = {
    "stream_replaced": "another client took over this session's login",
    "client_outdated": "WhatsApp refuses this client version; update waorch",
}


class _FirstConnected(TypedDict, total=False):
    """The field a session's first connection sets (and no later one)."""

    first_connected: float


@dataclass(frozen=True)
class Event:
    """A worker event: ``{sessionId, type, data, timestamp, generation}``."""

    session_id: str
    type: str
    data: dict[str, Any]
    timestamp: int
    generation: int

    @classmethod
    def parse(cls, body: object) -> Event:
        """Validate the JSON body of a webhook (``BAD_REQUEST`` if malformed)."""
        if not isinstance(body, dict):
            raise BadRequest("event must be a JSON object")
        kind, data = body.get("type"), body.get("data", {})
        if kind not in EVENT_TYPES:
            raise BadRequest(f"unknown event type {kind!r}", code="UNKNOWN_EVENT")
        if not isinstance(data, dict) or not isinstance(body.get("sessionId"), str):
            raise BadRequest("event needs sessionId (string) and data (object)")
        generation, timestamp = body.get("generation", 0), body.get("timestamp", 0)
        if not isinstance(generation, int) or not isinstance(timestamp, int):
            raise BadRequest("generation and timestamp must be integers")
        return cls(body["sessionId"], kind, data, timestamp, generation)


Handler = Callable[[Session, Event], Awaitable[None]]
Restart = Callable[[Session, str], Awaitable[None]]


class EventHandler:
    """Applies events to session state, stickiness and the proxy pool."""

    def __init__(
        self,
        store: SessionStore,
        pool: ProxyPool,
        lifecycle: Lifecycle,
        failover: Failover,
        logout: Callable[[str], Awaitable[None]],
        dispatcher: Dispatcher,
        restrict_s: float,
        inbox: Inbox,
        restart: Restart,
        breaker: Breaker,
        health: AccountHealth,
    ) -> None:
        self.breaker = breaker
        self.health = health  # counts disconnects and temporary bans (the health score)
        self.inbox = inbox
        self.restart = restart
        self.dispatcher = dispatcher
        self.restrict_s = restrict_s
        self.store = store
        self.pool = pool
        self.lifecycle = lifecycle
        self.failover = failover
        self.logout = logout
        self._handlers: dict[str, Handler] = {
            "QR_CODE": self._qr,
            "CONNECTED": self._connected,
            "DISCONNECTED": self._disconnected,
            "PING": self._ping,
            "PROXY_ERROR": self._proxy_error,
            "AUTH_FAILURE": self._auth_failure,
            "MESSAGE_SENT": self._send_outcome,
            "MESSAGE_FAILED": self._send_outcome,
            "MESSAGE_RECEIVED": self._received,
            "SEND_RESTRICTED": self._restricted,
        }

    async def handle(self, event: Event) -> None:
        """Apply one event (events from a replaced worker generation are ignored)."""
        session = await self.store.find(event.session_id)
        if session is None:
            return
        if event.type not in GENERATION_FREE and event.generation != session.generation:
            log.info("[%s] ignored %s from generation %d", session.id, event.type, event.generation)
            return
        await self._handlers[event.type](session, event)

    async def _qr(self, session: Session, event: Event) -> None:
        qr, expires = event.data.get("qr"), event.data.get("expiresAt")
        if not isinstance(qr, str) or not isinstance(expires, (int, float)):
            raise BadRequest("QR_CODE needs qr (string) and expiresAt (number)", session_id=session.id)
        await self.store.set_status(session.id, Status.QR_READY, qr=qr, qr_expires=expires)

    async def _connected(self, session: Session, event: Event) -> None:
        phone = "".join(ch for ch in str(event.data.get("phoneNumber", "")) if ch.isdigit())
        if not 7 <= len(phone) <= 15:
            raise BadRequest("CONNECTED needs phoneNumber", session_id=session.id)
        try:
            await self.pool.bind_phone(session.id, phone)
        except PhoneLimit as error:
            await self.store.set_status(session.id, Status.FAILED, f"{error.message} ({phone}); logged out")
            await self.logout(session.id)
            return
        now = self.store.clock.now()
        first: _FirstConnected = {} if session.first_connected else {"first_connected": now}
        await self.store.set_status(
            session.id, Status.CONNECTED, qr="", qr_expires=0, connected_since=now, ban_until=0, **first
        )

    async def _disconnected(self, session: Session, event: Event) -> None:
        reason = str(event.data.get("reason", "connection_lost"))
        detail = shorten(f"{reason}: {event.data.get('detail', '')}".strip(": "), REASON_LIMIT)
        if event.data.get("loggedOut"):
            self.lifecycle.delete_auth(session.id)
            await self.store.set_status(session.id, Status.LOGGED_OUT, detail, qr="")
            return
        if reason in FINAL_DISCONNECTS:
            await self.store.set_status(session.id, Status.FAILED, f"{reason}: {FINAL_DISCONNECTS[reason]}", qr="")
            return
        banned = reason == "temporary_ban"
        ban_until = event.data.get("expiresAt", 0) if banned else 0
        if banned or session.status == Status.CONNECTED:  # a failed try to reconnect is not one more disconnect
            await self.health.note(session.id, BANS if banned else DISCONNECTS)
            await self.breaker.sign(session.id, DISCONNECT, f"{session.generation}:{self.store.clock.now()}")
        await self.store.set_status(
            session.id,
            Status.DISCONNECTED,
            detail,
            _hint(event),
            ban_until=ban_until if isinstance(ban_until, (int, float)) else 0,
        )

    async def _ping(self, session: Session, event: Event) -> None:
        """The worker is alive, and where it takes commands: only an address commands may go to
        (a signed PING naming another one changes nothing)."""
        if (
            event.data.get("channel") != CHANNEL_VERSION
        ):  # started by an older waorch: restarted with its generation's key
            await self.restart(session, "the worker speaks an older command channel (it was started before an upgrade)")
            return
        url = event.data.get("commandUrl", "")
        worker_host = self.lifecycle.settings.worker_host(session.id)
        address = command_address(url, worker_host)
        if address is None:
            log.warning("[%s] PING refused: commandUrl %.100r is not an address commands may go to", session.id, url)
            allowed = f"<loopback address> or {worker_host}" if worker_host else "<loopback address>"
            raise BadRequest(
                f"commandUrl must be http://{allowed}:<port>, got {str(url)[:100]!r}",
                session_id=session.id,
                code="COMMAND_URL_REFUSED",
            )
        await self.store.update(session.id, last_ping=self.store.clock.now(), command_url=address)

    async def _proxy_error(self, session: Session, event: Event) -> None:
        error = shorten(str(event.data.get("error", "proxy error")), REASON_LIMIT)
        await self.failover.proxy_failed(session, error, _hint(event))

    async def _auth_failure(self, session: Session, event: Event) -> None:
        reason = f"{event.data.get('reason', 'auth_failure')}: {event.data.get('detail', '')}".strip(": ")
        await self.store.set_status(session.id, Status.FAILED, shorten(reason, REASON_LIMIT), qr="")

    async def _send_outcome(self, session: Session, event: Event) -> None:
        """The worker's own report of a send settles it (also one whose answer we lost)."""
        message_id = event.data.get("messageId")
        if not isinstance(message_id, str):
            raise BadRequest(f"{event.type} needs messageId", session_id=session.id)
        if event.type == "MESSAGE_SENT":
            await self.dispatcher.settle(session.id, message_id, {"state": "sent", "waId": event.data.get("waId")})
        elif event.data.get("permanent"):
            await self.dispatcher.settle(session.id, message_id, {"state": "failed", "error": event.data.get("error")})

    async def _restricted(self, session: Session, event: Event) -> None:
        """Reach-out time-lock: no sends to new contacts until it passes (or our configured hold)."""
        until = event.data.get("until")
        until = until if isinstance(until, (int, float)) else self.store.clock.now() + self.restrict_s
        await self.store.update(session.id, restricted_until=until)
        await self.store.record(session.id, "send_restricted", {"reason": event.data.get("reason"), "until": until})
        await self.dispatcher.hold_new_contacts(session.id, until)

    async def _received(self, session: Session, event: Event) -> None:
        await self.inbox.add(session.id, event.data)  # kept, and queued for EVENTS_WEBHOOK_URL (core/inbox.py)


def _hint(event: Event) -> str:
    """What the worker says a person should check (``""``: nothing)."""
    hint = event.data.get("hint")
    return shorten(hint, REASON_LIMIT) if isinstance(hint, str) else ""
