"""The daily summary: yesterday's sends per session, failures, and the sessions that need a person,
raised as one alert (to Telegram when it is configured, and in the log pane).

It reports the last complete local day (the jobs run at night): the day before the job's slot.
A mark of the day it reported is kept for a week, so running it twice raises it once.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from waorch.clock import Clock
from waorch.core import keys
from waorch.core.activity import INFO, ActivityLog
from waorch.core.alerts import AlertKind
from waorch.core.jobs import day_before
from waorch.core.messages import COUNT_TTL_S, MessageStore
from waorch.core.sessions import SessionStore, Status

# Sessions a person should look at: they need a QR, were parked, or are not connected.
ATTENTION = frozenset({Status.QR_READY, Status.DISCONNECTED, Status.LOGGED_OUT, Status.FAILED})
OUTCOMES = ("sent", "failed", "unknown")


class DailySummary:
    """Raises the summary of the day before a slot, once."""

    def __init__(
        self, clock: Clock, zone: ZoneInfo, sessions: SessionStore, messages: MessageStore, activity: ActivityLog
    ) -> None:
        self.redis = messages.redis
        self.clock = clock
        self.zone = zone
        self.sessions = sessions
        self.messages = messages
        self.activity = activity

    async def run(self, slot: float) -> str:
        """Raise the summary of the day before ``slot`` unless it was raised; what it did."""
        day = day_before(slot, self.zone)
        if not await self.redis.set(keys.summary_sent(day), self.clock.now(), nx=True, ex=COUNT_TTL_S):
            return f"the summary of {day} was already raised"
        text = await self.text(day)
        await self.activity.add(INFO, "summary", text, alert=AlertKind.SUMMARY, subject=day)
        return text

    async def text(self, day: str) -> str:
        """``summary of 2026-11-20: 120 sent, 3 failed, 0 unknown; needs attention: worker_3 logged_out;
        by session: worker_1: 100 sent, worker_2: 20 sent 3 failed``."""
        sessions = await self.sessions.list()
        counts = {session.id: await self.messages.counts(session.id, day) for session in sessions}
        totals = ", ".join(f"{sum(c[name] for c in counts.values())} {name}" for name in OUTCOMES)
        attention = ", ".join(f"{s.id} {s.status}" for s in sessions if s.status in ATTENTION) or "none"
        busiest = sorted(counts.items(), key=lambda item: (-item[1]["sent"], item[0]))
        by_session = ", ".join(f"{sid}: {_outcomes(c)}" for sid, c in busiest if any(c[n] for n in OUTCOMES))
        return f"summary of {day}: {totals}; needs attention: {attention}; by session: {by_session or 'no sends'}"


def _outcomes(counts: dict[str, int]) -> str:
    """``100 sent 2 failed`` (the outcomes that happened)."""
    return " ".join(f"{counts[name]} {name}" for name in OUTCOMES if counts[name]) or "0 sent"
