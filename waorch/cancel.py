"""Stopping asyncio tasks for certain.

On Python 3.11, ``asyncio.wait_for`` hands back the inner result when a cancellation arrives just
as the inner awaitable finishes, and the cancellation is lost (3.12 fixed it). redis-py awaits
every reply through ``wait_for``, so a task cancelled while a Redis reply lands goes on as if
nothing had happened: a loop that ends only by cancellation never ends, and whoever waits for it
hangs (a session loop sat out its 15 s poll this way while the core stopped).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

log = logging.getLogger("waorch.cancel")
RECANCEL_S = 0.1  # how long a cancelled task may take to end before it is cancelled again


async def cancel_and_wait(*tasks: asyncio.Future[Any]) -> None:
    """Cancel ``tasks`` and return once every one has ended, cancelling again any that carried on.

    A task that failed instead of ending by cancellation is logged, not raised: the caller is
    stopping things, and one failure must not leave the others running.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_S)
    for task in tasks:
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("%s failed while being stopped", _name(task), exc_info=error)


async def first_of(*waits: Awaitable[object]) -> None:
    """Return when the first of ``waits`` is done (the others are cancelled); if it failed, raise its error."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_and_wait(*(task for task in tasks if not task.done()))
    for task in done:
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error


def _name(task: asyncio.Future[Any]) -> str:
    return task.get_name() if isinstance(task, asyncio.Task) else repr(task)
