"""Delivery of the outbox to ``EVENTS_WEBHOOK_URL``, signed like our own webhooks, never in the way.

A background loop claims due session lanes and delivers their heads concurrently (one in flight
per session, so each session's events arrive in order). A failed attempt backs off exponentially
(1 s doubling to 5 min by default); after ``max_attempts`` attempts or ``max_age`` seconds the
event is moved to the failed deliveries. The event handler only appends to Redis, so a slow or
dead receiver delays nothing but its own deliveries.

Bodies are signed with Standard Webhooks headers (``webhook-id`` = the body's ``id``, the same on
every attempt; ``webhook-timestamp``; ``webhook-signature``) keyed by ``EVENTS_WEBHOOK_SECRET``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import httpx
import redis.asyncio as aioredis

from waorch.cancel import cancel_and_wait
from waorch.config import Settings
from waorch.core.outbox import Claim, Outbox
from waorch.core.sessions import SessionStore
from waorch.shorten import shorten
from waorch.signing import sign

log = logging.getLogger("waorch.forwarder")


@dataclass(frozen=True)
class RetryPolicy:
    """When a failed delivery is tried again, and when it is given up."""

    first_delay: float = 1.0
    max_delay: float = 300.0
    max_attempts: int = 300
    max_age: float = 24 * 3600.0

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        return min(self.first_delay * 2.0 ** (attempts - 1), self.max_delay)

    def exhausted(self, attempts: int, age: float) -> bool:
        """Whether a delivery that failed ``attempts`` times and is ``age`` seconds old is given up."""
        return attempts >= self.max_attempts or age >= self.max_age


class Forwarder:
    """Delivers outbox lanes to one URL; ``run_forever`` is the background loop."""

    def __init__(
        self,
        outbox: Outbox,
        url: str,
        secret: str,
        policy: RetryPolicy = RetryPolicy(),
        *,
        timeout: float = 10.0,
        concurrency: int = 8,
        poll: float = 0.1,
    ) -> None:
        self.outbox = outbox
        self.url = url
        self.secret = secret
        self.policy = policy
        self.timeout = timeout
        self.concurrency = concurrency
        self.poll = poll

    @classmethod
    def configured(cls, settings: Settings, outbox: Outbox, store: SessionStore) -> Forwarder | None:
        """The forwarder ``settings`` ask for (status changes queued too), or ``None`` without a URL."""
        if not settings.events_webhook_url:
            return None
        store.status_listeners.append(outbox.status_changed)
        policy = RetryPolicy(max_attempts=settings.events_webhook_max_attempts)
        return cls(outbox, settings.events_webhook_url, settings.events_webhook_secret, policy)

    async def run_forever(self, stopping: asyncio.Event) -> None:
        """Deliver due events until ``stopping`` is set (or cancelled); in-flight ones are abandoned.

        An abandoned delivery is claimed again when its lease ends (after a restart, too).
        """
        tasks: set[asyncio.Task[None]] = set()
        async with httpx.AsyncClient(timeout=self.timeout, trust_env=False) as http:
            try:
                while not stopping.is_set():
                    if not await self._start_due(http, tasks):
                        await asyncio.sleep(self.poll)
            finally:
                await cancel_and_wait(*tasks)

    async def _start_due(self, http: httpx.AsyncClient, tasks: set[asyncio.Task[None]]) -> bool:
        """Start deliveries for due lanes while there is room; False if none was started."""
        room = self.concurrency - len(tasks)
        try:
            claims = await self.outbox.claim(room, self.timeout + 5) if room > 0 else []
        except (aioredis.RedisError, OSError) as error:
            log.warning("outbox unavailable, trying again in 1 s: %s", error)
            await asyncio.sleep(1.0)
            return False
        for claim in claims:
            task = asyncio.ensure_future(self._deliver(http, claim))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        return bool(claims)

    async def _deliver(self, http: httpx.AsyncClient, claim: Claim) -> None:
        error = await self._post(http, claim)
        try:
            if error is None:
                await self.outbox.delivered(claim)
            elif self.policy.exhausted(claim.attempts + 1, claim.age(self.outbox.clock.now())):
                log.warning(
                    "[%s] gave up forwarding %s after %d attempts: %s",
                    claim.session_id,
                    claim.delivery_id,
                    claim.attempts + 1,
                    error,
                )
                await self.outbox.give_up(claim, error)
            else:
                await self.outbox.retry_later(claim, self.policy.delay(claim.attempts + 1))
        except (aioredis.RedisError, OSError) as problem:
            log.warning(
                "[%s] outcome of %s not stored (tried again later): %s", claim.session_id, claim.delivery_id, problem
            )

    async def _post(self, http: httpx.AsyncClient, claim: Claim) -> str | None:
        """One attempt: ``None`` on a 2xx answer, else what went wrong."""
        body = claim.body.encode()
        headers = {
            "content-type": "application/json",
            "user-agent": "waorch",
            **sign(self.secret, body, msg_id=claim.delivery_id),
        }
        try:
            response = await http.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as error:
            return shorten(f"{type(error).__name__}: {error}".rstrip(": "), 200)
        return None if response.is_success else f"HTTP {response.status_code}"
