"""The active core and its HTTP server on their own event loop, in a thread of this process (how the
control room's host runs the core beside its UI)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from waorch.cancel import first_of
from waorch.clock import Clock
from waorch.config import Settings
from waorch.control.local import LocalControl
from waorch.errors import Unavailable, WaorchError
from waorch.service import Service, active_core

T = TypeVar("T")
# While a core runs in a thread next to a busy UI, the interpreter hands the GIL over this often.
# Each time the core's loop wakes for I/O it waits up to this long for the UI thread to let go;
# with CPython's default of 5 ms, /health answered 2-4x slower (median) while the UI thread spun.
CORE_SWITCH_INTERVAL_S = 0.001

log = logging.getLogger("waorch.core_thread")


class CoreThread:
    """The active core and its HTTP server on their own event loop in a thread of this process.

    The control room hosts the core this way so that nothing the UI does (a slow frame, a large
    table) can delay a send, a webhook or a lease renewal: the two loops only share the GIL,
    which Python hands over every few milliseconds. ``run`` executes a coroutine on the core's
    loop and returns its result to the caller's loop. While it runs, the GIL is handed over every
    ``CORE_SWITCH_INTERVAL_S`` instead of every 5 ms.
    """

    def __init__(self, settings: Settings, url: str, *, stop_workers: bool = False, clock: Clock | None = None) -> None:
        self.settings = settings
        self.url = url
        self.stop_workers = stop_workers
        self.clock = clock
        self.service: Service | None = None
        self.lost = asyncio.Event()  # in the caller's loop: the core stepped down (another took over)
        self.ended = asyncio.Event()  # in the caller's loop: the core's loop ended, for whatever reason
        self.error: BaseException | None = None  # what ended it, if it failed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._switch_interval = sys.getswitchinterval()  # the process's own (read again on entry), restored on exit

    async def __aenter__(self) -> CoreThread:
        caller = asyncio.get_running_loop()
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, CORE_SWITCH_INTERVAL_S))
        ready: asyncio.Future[None] = caller.create_future()
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._main(caller, ready),), name="waorch-core", daemon=True
        )
        self._thread.start()
        try:
            await ready
        except BaseException:
            await asyncio.to_thread(self._thread.join)
            sys.setswitchinterval(self._switch_interval)
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the core's loop already ended
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        sys.setswitchinterval(self._switch_interval)

    def control(self) -> LocalControl:
        """Actions on this thread's core, each run on the core's loop."""
        if self.service is None:
            raise Unavailable("the core is not running")
        return LocalControl(self.service.core, self.run)

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the core's loop; its result (or error) comes back here."""
        if self._loop is None:
            coroutine.close()
            raise Unavailable("the core is not running")
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self._loop))

    async def _main(self, caller: asyncio.AbstractEventLoop, ready: asyncio.Future[None]) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        try:
            async with active_core(
                self.settings, self.url, stop_workers=self.stop_workers, clock=self.clock
            ) as service:
                self.service = service
                caller.call_soon_threadsafe(_resolve, ready, None)
                await first_of(self._stop.wait(), service.core.lease.lost.wait())
                if service.core.lease.lost.is_set():
                    caller.call_soon_threadsafe(self.lost.set)
        except BaseException as error:
            if isinstance(error, WaorchError):  # e.g. CoreActive: another process took the lease first
                log.info("the core did not run: %s", error)
            else:
                log.exception("the core stopped with an error")
            self.error = error
            caller.call_soon_threadsafe(_resolve, ready, error)
            if not isinstance(error, Exception):
                raise
        finally:
            self.service = None
            self._loop = None
            with contextlib.suppress(RuntimeError):  # the caller's loop is already closed
                caller.call_soon_threadsafe(self.ended.set)


def _resolve(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
