"""Signed delivery of a worker's events to the orchestrator's webhook, in order, with retries.

Events wait in a bounded in-memory queue while the orchestrator is unreachable (for example
while it restarts) and go out in order once it answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

import aiohttp

from waorch.signing import SESSION_HEADER, sign
from waorch.tasks import cancel_and_wait

log = logging.getLogger("waorch.worker.emitter")
QUEUE_LIMIT = 2000


class Emitter:
    """An ``EventSink`` that signs each event with the worker's key and posts it."""

    def __init__(self, url: str, key: str, session_id: str, generation: int) -> None:
        self.url = url
        self.key = key
        self.session_id = session_id
        self.generation = generation
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._http: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the delivery task."""
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._task = asyncio.create_task(self._deliver_forever())

    async def emit(self, type: str, data: dict[str, Any]) -> None:
        """Queue one event (the oldest is dropped if the queue is full)."""
        event = {"sessionId": self.session_id, "type": type, "data": data,
                 "timestamp": int(time.time() * 1000), "generation": self.generation}
        if self._queue.qsize() >= QUEUE_LIMIT:
            self._queue.get_nowait()
            log.warning("event queue full: dropped the oldest event")
        self._queue.put_nowait(json.dumps(event).encode())
        log.info("event %s", type)

    async def _deliver_forever(self) -> None:
        while True:
            body = await self._queue.get()
            await self._deliver(body)
            self._queue.task_done()

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
        """Deliver what is queued (within ``flush_timeout``), then stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), flush_timeout)
        if self._task:
            await cancel_and_wait(self._task)
        if self._http:
            await self._http.close()
