"""Group commit for the hot path: commands issued in the same event-loop turn share one round trip.

Under load many ``POST /api/v1/send`` requests are in flight at once. Each needs a scripted write
and a ``WAITAOF`` before its 202. Issued one by one they cost a round trip and one fsync wait
each. Batched, everything that arrives while a batch is on the wire goes in the next one, with a
single ``WAITAOF`` after all its writes on the same connection: idle, a request goes out at once;
busy, batches grow with the load. ``LANES`` batches may be on the wire at once (one per
connection). One is enough: Redis fsyncs its append-only file in its main thread, so a second
batch cannot overlap the first one's fsync, it only halves the batches (measured on 2 cores: two
lanes were no faster on a quiet machine and slower on a busy one).

Commands are packed by hiredis and written on the lane's connection directly, which a lane keeps
while there is work: this is the hot path, and a redis-py pipeline (with a pool checkout per
batch) costs several times more Python per command.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

WAITAOF_TIMEOUT_MS = 5000
LANES = 1

Pending = tuple[bytes, "asyncio.Future[tuple[Any, bool]]"]


async def _reply(connection: Connection) -> Any:
    """The next reply on ``connection``; an error reply is returned, not raised. No timeout of its
    own (``math.inf``): the caller bounds the whole batch with one timer instead of one per reply."""
    try:
        return await connection.read_response(timeout=math.inf)
    except ResponseError as error:
        return error


def _fail(batch: list[Pending], error: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)


class CommandBatcher:
    """Collects commands during one loop turn and runs them as one pipelined write."""

    def __init__(self, redis: aioredis.Redis, waitaof_timeout_ms: int = WAITAOF_TIMEOUT_MS) -> None:
        self.pool = redis.connection_pool
        # hiredis 3.5's stub types the command as a 1-tuple (Tuple[X], not Tuple[X, ...]); it takes any length
        self.waitaof = hiredis.pack_command(("WAITAOF", 1, 0, waitaof_timeout_ms))  # type: ignore[arg-type]
        self.waitaof_timeout_s = waitaof_timeout_ms / 1000
        self._batch: list[Pending] = []
        self._durable = False
        self._scheduled = False
        self._lanes: set[asyncio.Task[None]] = set()  # strong references: the loop keeps weak ones

    async def execute(self, *args: Any) -> Any:
        """Run one command in the next batch; its error (if any) is returned, not raised."""
        result, _ = await self._submit(args, durable=False)
        return result

    async def execute_durably(self, *args: Any) -> tuple[Any, bool]:
        """Run a write in the next batch and ``WAITAOF`` after it: ``(result, fsynced)``."""
        return await self._submit(args, durable=True)

    def _submit(self, args: tuple[Any, ...], durable: bool) -> asyncio.Future[tuple[Any, bool]]:
        packed = hiredis.pack_command(args)  # here, so an argument that cannot be sent fails only its caller
        future: asyncio.Future[tuple[Any, bool]] = asyncio.get_running_loop().create_future()
        self._batch.append((packed, future))
        self._durable = self._durable or durable
        self._schedule()
        return future

    def _schedule(self) -> None:
        if self._batch and not self._scheduled and len(self._lanes) < LANES:
            self._scheduled = True  # the lane starts on the next loop turn: this turn's commands join
            asyncio.get_running_loop().call_soon(self._open_lane)

    def _open_lane(self) -> None:
        self._scheduled = False
        if self._batch and len(self._lanes) < LANES:
            lane = asyncio.ensure_future(self._run_lane())
            self._lanes.add(lane)
            lane.add_done_callback(self._lane_done)

    def _lane_done(self, lane: asyncio.Task[None]) -> None:
        self._lanes.discard(lane)
        self._schedule()  # commands that came while the lane was giving its connection back

    def _take(self) -> tuple[list[Pending], bool]:
        batch, durable = self._batch, self._durable
        self._batch, self._durable = [], False
        return batch, durable

    async def _run_lane(self) -> None:
        """Send batches on one connection while there are any, then give the connection back."""
        try:
            connection = await self.pool.get_connection()  # type: ignore[no-untyped-call]  # unannotated in redis 8.1
        except Exception as error:  # Redis unreachable: this turn's waiters get the error
            _fail(self._take()[0], error)
            return
        try:
            while self._batch:
                await self._flush(connection, *self._take())
        finally:
            await self.pool.release(connection)

    async def _flush(self, connection: Connection, batch: list[Pending], durable: bool) -> None:
        commands = [packed for packed, _ in batch] + ([self.waitaof] if durable else [])
        limit = None if connection.socket_timeout is None else connection.socket_timeout + self.waitaof_timeout_s
        try:  # a failed send or read disconnects the connection; it reconnects on the next send
            await connection.send_packed_command(b"".join(commands), check_health=False)
            results = await self._replies(connection, len(commands), limit)
        except Exception as error:  # connection lost: every waiter of this batch gets the error
            _fail(batch, error)
            return
        fsynced = not durable or (not isinstance(results[-1], Exception) and bool(results[-1][0]))
        for (_, future), result in zip(batch, results, strict=False):
            if not future.done():
                future.set_result((result, fsynced))

    @staticmethod
    async def _replies(connection: Connection, count: int, limit: float | None) -> list[Any]:
        try:
            async with asyncio.timeout(limit):
                return [await _reply(connection) for _ in range(count)]
        except TimeoutError:  # the cancelled read has disconnected the connection
            raise RedisTimeoutError(f"Redis did not answer a batch within {limit} s") from None
