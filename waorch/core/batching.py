"""Group commit for the hot path: commands issued in the same event-loop turn share one round trip.

Under load many ``POST /api/v1/send`` requests are in flight at once. Each needs a session read,
a scripted write and a ``WAITAOF`` before its 202. Issued one by one they cost several round
trips and one fsync wait each. Batched, one pipeline is in flight at a time and everything that
arrives meanwhile goes in the next one, with a single ``WAITAOF`` covering all its writes: idle,
a request goes out at once; busy, batches grow with the load.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis

WAITAOF_TIMEOUT_MS = 5000


class CommandBatcher:
    """Collects commands during one loop turn and runs them as one pipeline."""

    def __init__(self, redis: aioredis.Redis, waitaof_timeout_ms: int = WAITAOF_TIMEOUT_MS) -> None:
        self.redis = redis
        self.waitaof_timeout_ms = waitaof_timeout_ms
        self._batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._durable: list[asyncio.Future[bool]] = []
        self._scheduled = False
        self._in_flight: asyncio.Task[None] | None = None

    async def execute(self, *args: Any) -> Any:
        """Run one command in the next batch; its error (if any) is returned, not raised."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._batch.append((args, future))
        self._schedule()
        return await future

    async def execute_durably(self, *args: Any) -> tuple[Any, bool]:
        """Run a write in the next batch and ``WAITAOF`` after it: ``(result, fsynced)``."""
        written: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        fsynced: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._batch.append((args, written))
        self._durable.append(fsynced)
        self._schedule()
        return await written, await fsynced

    def _schedule(self) -> None:
        if not self._scheduled and self._in_flight is None:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._start_flush)

    def _start_flush(self) -> None:
        self._scheduled = False
        if self._in_flight is not None or not (self._batch or self._durable):
            return
        batch, durable = self._batch, self._durable
        self._batch, self._durable = [], []
        self._in_flight = asyncio.ensure_future(self._flush(batch, durable))
        self._in_flight.add_done_callback(self._flushed)

    def _flushed(self, task: asyncio.Task[None]) -> None:
        self._in_flight = None
        self._schedule()

    async def _flush(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]], durable: list[asyncio.Future[bool]]) -> None:
        try:
            results = await self._round_trip([args for args, _ in batch], bool(durable))
        except Exception as error:  # connection lost: every waiter gets the error
            for future in [f for _, f in batch] + durable:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), result in zip(batch, results, strict=False):
            if not future.done():
                future.set_result(result)
        fsynced = bool(durable) and not isinstance(results[-1], Exception) and bool(results[-1][0])
        for future in durable:
            if not future.done():
                future.set_result(fsynced)

    async def _round_trip(self, commands: list[tuple[Any, ...]], durable: bool) -> list[Any]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for args in commands:
                pipe.execute_command(*args)
            if durable:
                pipe.execute_command("WAITAOF", 1, 0, self.waitaof_timeout_ms)
            return await pipe.execute(raise_on_error=False)
