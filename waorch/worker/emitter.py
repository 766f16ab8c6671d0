"""Signed delivery of a worker's events to the orchestrator's webhook, in order, with retries.

Events wait while the orchestrator is unreachable (for example while it restarts) and go out in
order once it answers again. Facts the orchestrator must not miss (incoming messages, send
outcomes, a reach-out restriction) wait on disk in the worker's spool, so they also survive the
worker ending or the host rebooting meanwhile: the next worker of the session delivers them
first. Reports about this process (QR codes, connection state, proxy and login errors) wait in
memory only; of its pings only the newest waits. Each request is signed when it is posted, so a
delivery after a long wait carries a fresh timestamp.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from typing import Any

import aiohttp

from waorch.cancel import cancel_and_wait
from waorch.signing import SESSION_HEADER, sign
from waorch.worker.spool import EventSpool

log = logging.getLogger("waorch.worker.emitter")
SPOOLED = frozenset({"MESSAGE_RECEIVED", "MESSAGE_SENT", "MESSAGE_FAILED", "SEND_RESTRICTED"})
Outgoing = tuple[int, bytes]  # (spool sequence number, 0 if not spooled; event JSON)


class Emitter:
    """An ``EventSink`` that signs each event with the worker's key and posts it."""

    def __init__(self, url: str, key: str, session_id: str, generation: int, spool: EventSpool) -> None:
        self.url = url
        self.key = key
        self.session_id = session_id
        self.generation = generation
        self._spool = spool
        self._queue: deque[Outgoing] = deque(spool.pending())  # left by an earlier worker: first
        self._ready = asyncio.Event()  # something was queued
        self._drained = asyncio.Event()  # nothing is left to deliver
        self._posting: Outgoing | None = None
        self._ping: Outgoing | None = None
        self._http: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the delivery task."""
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._task = asyncio.create_task(self._deliver_forever())

    async def emit(self, type: str, data: dict[str, Any]) -> None:
        """Queue one event (spooled to disk first if it is a fact the orchestrator must not miss)."""
        event = {
            "sessionId": self.session_id,
            "type": type,
            "data": data,
            "timestamp": int(time.time() * 1000),
            "generation": self.generation,
        }
        body = json.dumps(event).encode()
        outgoing = (self._spool.add(body) if type in SPOOLED else 0, body)
        if type == "PING":
            self._replace_ping(outgoing)
        self._queue.append(outgoing)
        self._drained.clear()
        self._ready.set()
        log.info("event %s", type)

    def _replace_ping(self, ping: Outgoing) -> None:
        """A newer ping makes a queued one that is not being posted yet pointless."""
        old, self._ping = self._ping, ping
        if old is not None and old is not self._posting and old in self._queue:
            self._queue.remove(old)

    async def _deliver_forever(self) -> None:
        while True:
            while not self._queue:
                self._drained.set()
                self._ready.clear()
                await self._ready.wait()
            self._posting = seq, body = self._queue[0]
            await self._deliver(body)
            self._queue.popleft()
            self._posting = None
            if seq:
                self._spool.delivered(seq)

    async def _deliver(self, body: bytes) -> None:
        delay = 0.1
        while True:
            status = await self._post(body)
            if status is not None and status < 500:
                if status >= 300:
                    log.error("webhook refused an event with HTTP %s; dropped", status)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _post(self, body: bytes) -> int | None:
        headers = {"content-type": "application/json", SESSION_HEADER: self.session_id, **sign(self.key, body)}
        assert self._http is not None
        try:
            async with self._http.post(self.url, data=body, headers=headers) as response:
                return response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            log.debug("webhook unreachable: %s", error)
            return None

    async def close(self, flush_timeout: float = 3.0) -> None:
        """Deliver what is queued (within ``flush_timeout``; spooled events not delivered by then
        wait for the next worker of this session), then stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), flush_timeout)
        if self._task:
            await cancel_and_wait(self._task)
        if self._http:
            await self._http.close()
