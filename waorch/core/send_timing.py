"""When a session's next message may go, and which one: the pacing rules (:mod:`waorch.core.pacing`) applied to
the session's tier and its stored sends. The dispatcher sends by it; a queue view shows it.

A queue is first in, first out, but for the caps of one recipient (``pacing.RECIPIENT_HOLDS``): a message such
a cap holds lets the messages behind it to other recipients pass (up to ``LOOKAHEAD`` of them), while the
messages to one recipient keep their order. A number check (``messages.CHECK``) is paced like a send but writes
to nobody, so no recipient's cap holds it. Every other hold (pause, pacing gap, per-minute and daily caps,
hours, a ban, a retry's wait) holds the whole queue."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from waorch.clock import Clock
from waorch.core.messages import CHECK, Message, MessageStore, PacingFacts
from waorch.core.pacing import (
    RECIPIENT_HOLDS,
    Hold,
    Recent,
    ToRecipient,
    clock_time,
    draw_gap,
    earliest_send,
    gap_fits,
    local_day,
    recipient_hold,
    typing_seconds,
)
from waorch.core.sessions import Session, Status
from waorch.core.tiers import Tier, TierStore, account_age, tier_for_age

FINISH_ROOM_S = 2.0
LOOKAHEAD = 100  # waiting messages looked at past a head that a recipient's cap holds


@dataclass(frozen=True)
class Plan:
    """The message that goes next and when (``message`` None: the queue is empty), and the messages passed
    over because a cap of their recipient holds them, with that hold."""

    message: Message | None
    hold: Hold
    held: dict[str, Hold] = field(default_factory=dict)


class SendTiming:
    """A session's tier and its next send, read from its stored sends."""

    def __init__(self, messages: MessageStore, tiers: TierStore, clock: Clock, zone: ZoneInfo) -> None:
        self.messages = messages
        self.tiers = tiers
        self.clock = clock
        self.zone = zone

    async def tier_of(self, session: Session) -> Tier:
        """The session's tier now (pinned, or by age since first connected)."""
        age = account_age(session.first_connected, self.clock.now())
        return tier_for_age(await self.tiers.all(), age, session.tier_pin)

    async def _recent(self, session_id: str, tier: Tier, facts: PacingFacts) -> Recent:
        """The pacing facts of a session (a gap drawn for another tier's range is drawn again)."""
        gap = facts.gap
        if facts.last_done and not gap_fits(tier, gap):
            gap = draw_gap(tier)
            await self.messages.set_gap(session_id, gap)
        return Recent(facts.last_done, gap, tuple(facts.done_last_minute), facts.sent_today)

    async def next_send(self, session: Session, message: Message) -> Hold:
        """When ``message`` may go and what holds it (``inf``: not while the session is as it is)."""
        if session.paused:
            return Hold(math.inf, "paused", "sending is paused (p in the control room, or POST …/queue/resume)")
        if session.status != Status.CONNECTED:
            return Hold(math.inf, "not_connected", f"the session is not connected ({session.status})")
        now = self.clock.now()
        tier = await self.tier_of(session)
        facts = await self.messages.pacing_facts(session.id, now, local_day(now, self.zone), message.to)
        check = message.kind == CHECK  # a number check writes to nobody: no recipient's cap or hold applies
        room = (0.0 if check else typing_seconds(message.text)) + FINISH_ROOM_S
        hold = earliest_send(now, tier, self.zone, await self._recent(session.id, tier, facts), room)
        to = ToRecipient(facts.contact, facts.new_contacts_today, tuple(facts.to_recipient))
        reason = session.breaker_reason.replace("{", "(").replace("}", ")")
        holds = [
            (session.ban_until, "banned", "temporarily banned by WhatsApp until {}"),
            (session.breaker_until, "breaker", f"breaker tripped ({reason}): sends again at {{}} or on resume"),
            (message.retry_at, "retry", "tried again at {} after a failure"),
        ]
        if session.restricted_until > now and not facts.contact and not check:
            holds.append((session.restricted_until, "reach_out", "reach-out hold: new contacts wait until {}"))
        for at, reason, says in holds:
            if at > hold.at:  # (worded only when it decides: this runs before every send)
                hold = Hold(at, reason, says.format(clock_time(at, self.zone, now)))
        return hold if check else hold.or_later(recipient_hold(now, tier, self.zone, to))

    async def plan(self, session: Session, head: Message) -> Plan:
        """Which waiting message goes next and when: the head, unless a cap of its recipient holds it."""
        hold = await self.next_send(session, head)
        if hold.reason not in RECIPIENT_HOLDS:
            return Plan(head, hold)
        return await self._past_held(session, await self.messages.peek(session.id, LOOKAHEAD), {head.to: hold})

    async def _past_held(self, session: Session, waiting: list[Message], blocked: dict[str, Hold]) -> Plan:
        """The first waiting message whose recipient nothing holds (whose earlier messages none is held); if
        each is held, the one whose hold ends first."""
        held: dict[str, Hold] = {}
        first: dict[str, Message] = {}
        for message in waiting:
            hold = blocked.get(message.to) or await self.next_send(session, message)
            if hold.reason not in RECIPIENT_HOLDS:
                return Plan(message, hold, held)
            held[message.id] = blocked[message.to] = hold
            first.setdefault(message.to, message)
        if not first:  # sent or removed meanwhile
            return Plan(None, Hold(math.inf, "empty", "the queue is empty"))
        soonest = min(first.values(), key=lambda message: held[message.id].at)
        return Plan(soonest, held[soonest.id], held)
