"""When a session's head message may go: the pacing rules (:mod:`waorch.core.pacing`) applied to the
session's tier and its stored sends. The dispatcher sends by it; a queue view shows it."""

from __future__ import annotations

import math
from zoneinfo import ZoneInfo

from waorch.clock import Clock
from waorch.core.messages import Message, MessageStore
from waorch.core.pacing import (
    WINDOW_S,
    Hold,
    Recent,
    clock_time,
    draw_gap,
    earliest_send,
    gap_fits,
    local_day,
    typing_seconds,
)
from waorch.core.sessions import Session, Status
from waorch.core.tiers import Tier, TierStore, tier_for_age

FINISH_ROOM_S = 2.0


class SendTiming:
    """A session's tier and its next send time, read from its stored sends."""

    def __init__(self, messages: MessageStore, tiers: TierStore, clock: Clock, zone: ZoneInfo) -> None:
        self.messages = messages
        self.tiers = tiers
        self.clock = clock
        self.zone = zone

    async def tier_of(self, session: Session) -> Tier:
        """The session's tier now (pinned, or by age since first connected)."""
        age = self.clock.now() - session.first_connected if session.first_connected else 0.0
        return tier_for_age(await self.tiers.all(), age, session.tier_pin)

    async def recent(self, session_id: str, tier: Tier, now: float) -> Recent:
        """The pacing facts of a session at ``now``."""
        last_done, gap, done, sent = await self.messages.pacing_facts(
            session_id, now - WINDOW_S, local_day(now, self.zone)
        )
        if last_done and not gap_fits(tier, gap):
            gap = draw_gap(tier)
            await self.messages.set_gap(session_id, gap)
        return Recent(last_done, gap, tuple(done), sent)

    async def next_send(self, session: Session, message: Message) -> Hold:
        """When the head message may go and what holds it (``inf``: not while the session is as it is)."""
        if session.paused:
            return Hold(math.inf, "paused", "sending is paused (p in the control room, or POST …/queue/resume)")
        if session.status != Status.CONNECTED:
            return Hold(math.inf, "not_connected", f"the session is not connected ({session.status})")
        now = self.clock.now()
        tier = await self.tier_of(session)
        hold = earliest_send(
            now, tier, self.zone, await self.recent(session.id, tier, now), typing_seconds(message.text) + FINISH_ROOM_S
        )
        holds = [
            (session.ban_until, "banned", "temporarily banned by WhatsApp until {}"),
            (message.retry_at, "retry", "tried again at {} after a failure"),
        ]
        if session.restricted_until > now and not await self.messages.is_contact(session.id, message.to):
            holds.append((session.restricted_until, "reach_out", "reach-out hold: new contacts wait until {}"))
        for at, reason, says in holds:
            if at > hold.at:  # (worded only when it decides: this runs before every send)
                hold = Hold(at, reason, says.format(clock_time(at, self.zone, now)))
        return hold
