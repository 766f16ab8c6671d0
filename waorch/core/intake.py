"""Accepting a message: validation, choice of session, daily limit, durable enqueue.

A 202 means the message is in Redis and, where the server supports ``WAITAOF`` (Valkey/Redis
7.2+, the embedded default) with append-only persistence on, fsynced to its append-only file
before we answer. Without it the guarantee is the server's ``appendfsync`` policy
(``redis_server.Durability`` says which, once at start).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from waorch.clock import Clock
from waorch.core.account_health import AccountHealth
from waorch.core.batching import WAITAOF_TIMEOUT_MS
from waorch.core.dispatcher import Dispatcher
from waorch.core.messages import CHECK, Message, MessageStore, new_message_id
from waorch.core.pacing import local_day, next_midnight
from waorch.core.redis_server import Durability, probe_durability
from waorch.core.sessions import Session, SessionStore, Status
from waorch.errors import BadRequest, DailyLimit, EmptyMessage, MessageTooLong, NoCapacity
from waorch.phones import parse_phone

log = logging.getLogger("waorch.intake")

MAX_TEXT = 4096
# Distribution ranks healthier sessions first in bands of this many points (not 1: a point's difference must not
# send every message to one account until its day is full).
HEALTH_BAND = 10
MAX_SCHEDULE_DAYS = 365  # how far ahead sendAt may be (a day counter and midnight exist for any such time)


@dataclass(frozen=True)
class SendRequest:
    """A validated send: E.164 digits, text, optional session and time."""

    to: str
    text: str
    session_id: str | None
    send_at: float | None


def parse_text(raw: object) -> str:
    """Non-empty text of at most 4096 characters (any script, emoji included)."""
    if not isinstance(raw, str) or not raw.strip():
        raise EmptyMessage("message must be non-empty text")
    if len(raw) > MAX_TEXT:
        raise MessageTooLong(f"message is {len(raw)} characters; the limit is {MAX_TEXT}")
    if not raw.isascii():
        try:
            raw.encode()
        except UnicodeEncodeError:  # a lone surrogate from a JSON escape: not text
            raise BadRequest("message is not valid Unicode text", code="INVALID_TEXT") from None
    return raw


def parse_send_at(raw: object, now: float) -> float | None:
    """An ISO 8601 time with offset, at most ``MAX_SCHEDULE_DAYS`` ahead (``None``: now); in the past means now."""
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise BadRequest(
            "sendAt must be ISO 8601 with an offset, like 2026-11-25T09:30:00+02:00", code="INVALID_SEND_AT"
        )
    if moment.timestamp() > now + MAX_SCHEDULE_DAYS * 86400:
        raise BadRequest(f"sendAt must be at most {MAX_SCHEDULE_DAYS} days ahead", code="INVALID_SEND_AT")
    return moment.timestamp() if moment.timestamp() > now else None


def parse_send(
    to: object, text: object, session_id: object = None, send_at: object = None, *, region: str | None, now: float
) -> SendRequest:
    """A send as given (by the API, the control room): the recipient as written (``DEFAULT_REGION``:
    ``region``), the text, the session (``None``: distributed), an ISO 8601 time to send at."""
    if session_id is not None and not (isinstance(session_id, str) and session_id.isprintable()):
        raise BadRequest("sessionId must be a string of printable characters")
    return SendRequest(
        parse_phone(to, region, field="to"), parse_text(text), session_id or None, parse_send_at(send_at, now)
    )


class Intake:
    """Turns validated requests into durable queued messages."""

    def __init__(
        self,
        sessions: SessionStore,
        messages: MessageStore,
        dispatcher: Dispatcher,
        clock: Clock,
        health: AccountHealth,
    ) -> None:
        self.sessions = sessions
        self.health = health  # distribution prefers healthier sessions
        self.messages = messages
        self.dispatcher = dispatcher
        self.clock = clock
        self.durability: Durability | None = None  # set by the core at start; read here if it has not started
        self._probe = asyncio.Lock()
        self._day = (0.0, 0.0, "")  # (since, until, local day of both)

    async def accept(self, request: SendRequest) -> Message:
        """Queue (or schedule) the message on the right session; 202 follows only once it is durable."""
        now = self.clock.now()
        when = request.send_at or now
        await self._know_durability()
        if request.session_id:
            message = await self._accept_on(request.session_id, request, now, when)
        else:
            message = await self._distribute(request, now, when)
        self.dispatcher.message_arrived(message.session)
        return message

    async def check_numbers(self, session_id: str, numbers: Sequence[str]) -> list[Message]:
        """Queue a check of each number (E.164 digits) on the session, paced like its sends and counted against
        its day (``DAILY_LIMIT`` and nothing queued if the day has no room for all of them)."""
        now = self.clock.now()
        await self._know_durability()
        session = await self.sessions.get(session_id)
        if await self.remaining(session, self._local_day(now)) < len(numbers):
            raise DailyLimit(
                f"the session's day has no room for {len(numbers)} checks",
                session_id=session_id,
                retry_after=max(1, math.ceil(next_midnight(now, self.dispatcher.zone) - now)),
            )
        request = [SendRequest(number, "", session_id, None) for number in numbers]
        checks = [await self._accept_on(session_id, check, now, now, CHECK) for check in request]
        self.dispatcher.message_arrived(session_id)
        return checks

    async def _know_durability(self) -> None:
        """What a 202 guarantees, probed once (not once per request of the first burst)."""
        if self.durability is None:
            async with self._probe:
                if self.durability is None:
                    self.durability = await probe_durability(self.messages.redis)

    async def _accept_on(
        self, session_id: str, request: SendRequest, now: float, when: float, kind: str = ""
    ) -> Message:
        zone = self.dispatcher.zone
        message = Message(
            new_message_id(),
            session_id,
            request.to,
            request.text,
            "",
            created=now,
            send_at=request.send_at or 0.0,
            count_day=self._local_day(when),
            kind=kind,
        )
        tiers = await self.dispatcher.tiers.all()
        try:
            durable = await self.messages.accept(
                message,
                tiers,
                self.clock.now(),
                due=request.send_at is None,
                fsync=bool(self.durability and self.durability.waitaof),
            )
        except DailyLimit as error:
            error.retry_after = max(1, math.ceil(next_midnight(when, zone) - now))
            raise
        if not durable:
            log.error("[%s] WAITAOF: the append-only file was not fsynced within %d ms", session_id, WAITAOF_TIMEOUT_MS)
        return message

    def _local_day(self, ts: float) -> str:
        """``local_day(ts)``, reused up to the next local midnight (formatting it per request is measurable)."""
        since, until, day = self._day
        if not since <= ts < until:
            zone = self.dispatcher.zone
            day = local_day(ts, zone)
            self._day = (ts, next_midnight(ts, zone), day)
        return day

    async def remaining(self, session: Session, day: str) -> int:
        """Messages the session may still take for ``day``."""
        counts = await self.messages.counts(session.id, day)
        used = counts["queued"] + counts["sent"] + counts["checks"]
        return (await self.dispatcher.timing.tier_of(session)).daily_limit - used

    async def _distribute(self, request: SendRequest, now: float, when: float) -> Message:
        """On a connected session with room that day: the recipient's last sender, then one it is a contact of,
        then the healthiest (in bands of ``HEALTH_BAND`` points), then the one with the most room."""
        day = self._local_day(when)
        connected = [s for s in await self.sessions.list() if s.status == Status.CONNECTED]
        room = {s.id: await self.remaining(s, day) for s in connected}
        previous = await self.messages.last_sender(request.to)
        contact = await self.messages.contact_of([s.id for s in connected], request.to)
        band = {sid: score // HEALTH_BAND for sid, score in (await self.health.scores()).items()}
        ranked = sorted(
            (s for s in connected if room[s.id] > 0),
            key=lambda s: (s.id != previous, s.id not in contact, -band.get(s.id, 0), -room[s.id]),
        )
        for session in ranked:
            try:
                return await self._accept_on(session.id, request, now, when)
            except DailyLimit:
                continue  # taken by a concurrent request: try the next one
        raise NoCapacity("no connected session has daily capacity left")
