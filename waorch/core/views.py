"""What the core answers about its state, as typed values (the HTTP layer and the control room shape them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from waorch.core.messages import Message
from waorch.core.pacing import Hold
from waorch.core.redis_server import Durability
from waorch.core.tiers import Tier


@dataclass(frozen=True)
class DayUse:
    """A session's messages counted against one local day, and its tier's daily limit."""

    day: str
    queued: int
    sent: int
    failed: int
    unknown: int
    new_contacts: int
    checks: int  # number checks answered (they count against the limit like sends)
    limit: int


@dataclass(frozen=True)
class QueueView:
    """A session's queue: what waits, when the next send goes and why not sooner, usage against its tier."""

    session_id: str
    paused: bool
    depth: int
    inflight: list[str]
    head: list[Message]
    next_send_at: float | None  # None: nothing is due (empty, or held with no end in sight)
    waiting: Hold | None  # why the head is not sent yet (None: it is due now)
    tier: Tier
    sent_last_minute: int
    today: DayUse
    next_message: str | None = None  # the message that goes next (the head, unless its recipient's cap holds it)
    held: dict[str, Hold] = field(default_factory=dict)  # messages a cap of their recipient holds, and until when


@dataclass(frozen=True)
class Health:
    """Whether Redis answers, the core's state, what a 202 guarantees and the fleet in numbers."""

    state: str  # active · suspended: why · stepped down · stopped
    problem: str | None = None  # Redis does not answer: why (then nothing below is known)
    sessions: dict[str, int] = field(default_factory=dict)  # by status
    proxies: int = 0
    bad_proxies: int = 0
    durability: Durability | None = None

    @property
    def redis(self) -> bool:
        """Redis answered."""
        return self.problem is None
