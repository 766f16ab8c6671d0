"""The core a control room shows and acts on, wherever it runs: hosted here, or attached to.

``CoreHost`` runs the core of this Redis in this process (on its own loop, in a thread) unless
another process holds the core's lease; then it attaches to that core (its REST API) and takes
over when it goes away. Through a Redis outage it waits and tries again. It offers a ``reader``
(the read model), a ``control`` (the actions) and a ``mode`` (what runs where), and tells its user
what changed through ``tell``: typed events, for any front end (the control room turns them into
its own messages). Nothing here draws anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import redis.asyncio as aioredis

from waorch.cancel import cancel_and_wait, first_of
from waorch.clock import Clock, SystemClock
from waorch.config import Settings
from waorch.control import Control, RemoteControl
from waorch.core.lease import Holder, current_holder
from waorch.core.reader import CoreReader
from waorch.core.redis_server import is_outage, problem_of, redis_client
from waorch.core_thread import CoreThread
from waorch.errors import CoreActive, WaorchError
from waorch.redis_url import redact_url
from waorch.service import Service, embedded_or_configured_redis

T = TypeVar("T")
ATTACH_POLL_S = 1.0  # how often an attached host checks that its core still holds the lease
REDIS_RETRY_S = 1.0  # how often the host tries again while Redis does not answer
PRESENCE_PING_S = 1.0  # how often the host's own connection to Redis is checked (and made again if lost)
RESTART_PAUSE_S = 1.0  # after the hosted core failed, before it starts again (no tight loop if it keeps failing)
log = logging.getLogger("waorch.host")


# ---- modes: what runs where ----------------------------------------------------------------------


@dataclass(frozen=True)
class Starting:
    """Before the first look at the lease."""


@dataclass(frozen=True)
class HostingHere:
    """The core runs in this process; its REST API at ``api_url``."""

    api_url: str


@dataclass(frozen=True)
class AttachedTo:
    """The active core runs in process ``pid`` on ``host``; actions go to its REST API."""

    pid: int
    host: str


@dataclass(frozen=True)
class NotRunning:
    """The core could not start, for ``why``."""

    why: str


CoreMode = Starting | HostingHere | AttachedTo | NotRunning


@dataclass(frozen=True)
class Mode:
    """Where the core runs, and whether Redis answered the last time anyone looked."""

    core: CoreMode = Starting()
    redis_available: bool = True

    def describe(self) -> str:
        """The mode in words (``… · REDIS UNAVAILABLE`` while it does not answer)."""
        return where(self.core) + ("" if self.redis_available else " · REDIS UNAVAILABLE")


def where(core: CoreMode) -> str:
    """Where the core runs, in words."""
    match core:
        case HostingHere(api_url):
            return f"core here · API {api_url.removeprefix('http://')}"
        case AttachedTo(pid, host):
            return f"attached to pid {pid} on {host}"
        case NotRunning(why):
            return f"the core is not running: {why}"
    return "starting the core…"


# ---- events: what changed ------------------------------------------------------------------------


@dataclass(frozen=True)
class ModeChanged:
    """The mode is now ``mode``."""

    mode: Mode


@dataclass(frozen=True)
class RedisLost:
    """Redis stopped answering (the fleet shown is from before; everything resumes when it is back)."""


@dataclass(frozen=True)
class CoreHosted:
    """The core now runs here, its API on ``api_url``; ``durability_warning``: why an accepted message
    is not power-cut safe on this Redis (``None``: it is)."""

    api_url: str
    durability_warning: str | None


@dataclass(frozen=True)
class CoreSteppedDown:
    """The core hosted here gave its lease up to another (taken over, or it could not be renewed)."""


@dataclass(frozen=True)
class CoreDown:
    """The core does not run, for ``problem``: it stopped on its own and starts again (``again``), or it
    cannot run (e.g. its API's port is taken) and the host gave up."""

    problem: str
    again: bool


@dataclass(frozen=True)
class Attached:
    """Attached to the active core of another process (``holder``: which, in words)."""

    holder: str


@dataclass(frozen=True)
class ActionsRefused:
    """The attached core refuses this host's actions, or its API does not answer (``error`` says which)."""

    error: WaorchError


@dataclass(frozen=True)
class ActiveCoreGone:
    """The attached core went away; this host takes over."""


HostEvent = (
    ModeChanged | RedisLost | CoreHosted | CoreSteppedDown | CoreDown | Attached | ActionsRefused | ActiveCoreGone
)
Tell = Callable[[HostEvent], None]


class CoreHost:
    """Hosts the core of this Redis here, or attaches to the one active elsewhere; switches when that changes.

    ``start`` begins (in the running loop), ``stop`` ends it: the calls under way finish first, then
    the core stops (workers keep running unless ``stop_workers``). ``call`` shields reads and actions
    from the cancellation of whoever awaits them.
    """

    def __init__(
        self, settings: Settings, tell: Tell, *, stop_workers: bool = False, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.tell = tell
        self.stop_workers = stop_workers
        self.clock = clock or SystemClock()  # the hosted core's, and the reader's
        self.mode = Mode()
        self.reader: CoreReader | None = None  # the fleet as stored, while there is a core to read
        self.control: Control | None = None  # the actions, while there is a core to act on
        self.service: Service | None = None  # the core and its HTTP server, while they run here
        self._stopping = asyncio.Event()
        self._running: asyncio.Task[None] | None = None
        self._calls: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        """Host or attach, in the background, until ``stop``."""
        self._running = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Let the calls under way finish, then stop the core hosted here (or leave the attached one)."""
        await self._settle_calls()
        self._stopping.set()
        if self._running is not None:
            await self._running

    async def call(self, awaitable: Awaitable[T]) -> T:
        """Await a read or an action that runs to its end even if the task waiting for it is cancelled.

        A UI cancels its tasks when a screen closes or it quits; a Redis command or an action cut
        in half would leave a broken connection or a half-done change. The clients it uses are
        closed only after every call has finished.
        """
        task = asyncio.ensure_future(awaitable)
        self._calls.add(task)
        task.add_done_callback(_settled)
        task.add_done_callback(self._calls.discard)
        return await asyncio.shield(task)

    def redis_seen(self, reachable: bool) -> None:
        """Record whether Redis answered (the host's own looks, and every read of its user)."""
        if reachable == self.mode.redis_available:
            return
        self._change(replace(self.mode, redis_available=reachable))
        if not reachable:
            self.tell(RedisLost())

    @property
    def hosts_core(self) -> bool:
        """Whether the core runs in this process (it stops with the host)."""
        return self.service is not None

    def _show(self, core: CoreMode) -> None:
        self._change(replace(self.mode, core=core))

    def _change(self, mode: Mode) -> None:
        self.mode = mode
        self.tell(ModeChanged(mode))

    async def _run(self) -> None:
        """Run the core here, or attach to the one already active on this Redis; switch when that changes."""
        try:
            async with embedded_or_configured_redis(self.settings) as url, _present_on(url):
                while not self._stopping.is_set():
                    try:
                        await self._host_or_attach(url)
                    except aioredis.RedisError as error:
                        if not is_outage(error):
                            raise
                        log.warning("Redis unavailable: %s", problem_of(error))  # try again when it is back
                        self.redis_seen(False)
                        await first_of(self._stopping.wait(), asyncio.sleep(REDIS_RETRY_S))
        except WaorchError as error:
            self._failed(error.message)
        except (aioredis.RedisError, OSError) as error:  # e.g. the API's port is taken
            log.exception("the core could not start")
            self._failed(str(error))

    async def _host_or_attach(self, url: str) -> None:
        holder = await self._holder(url)
        self.redis_seen(True)
        if holder is None or holder.is_dead():
            with contextlib.suppress(CoreActive):  # another process was faster: attach to it
                await self._run_core(url)
        else:
            await self._attach_to(url, holder)

    async def _settle_calls(self) -> None:
        """Let reads and actions already under way finish before the clients they use are closed
        (one finishing later would open a connection on a closed pool and leave it open)."""
        await asyncio.gather(*self._calls, return_exceptions=True)

    async def _holder(self, url: str) -> Holder | None:
        redis = redis_client(url, max_connections=1)
        try:
            return await current_holder(redis)
        finally:
            await redis.aclose(close_connection_pool=True)

    @contextlib.asynccontextmanager
    async def _reading(self, url: str) -> AsyncIterator[CoreReader]:
        """The read model on a client of this loop; on exit the calls under way finish before the
        client is closed (a late read would leave a connection open)."""
        redis = redis_client(url, max_connections=16)
        try:
            yield CoreReader(self.settings, redis, self.clock)
        finally:
            self.service = self.reader = self.control = None
            await self._settle_calls()
            await redis.aclose(close_connection_pool=True)

    async def _run_core(self, url: str) -> None:
        """Host the core (on its own loop, in a thread) until the host stops or another core takes over."""
        async with (
            CoreThread(self.settings, url, stop_workers=self.stop_workers, clock=self.clock) as thread,
            self._reading(url) as reader,
        ):
            service = thread.service
            assert service is not None
            self.service, self.reader, self.control = service, reader, thread.control()
            self._show(HostingHere(service.base_url))
            log.info("control room: serving on %s (Redis %s)", service.base_url, redact_url(service.redis_url))
            durability = service.core.durability
            unsafe = durability is not None and not durability.power_cut_safe
            self.tell(CoreHosted(service.base_url, durability.describe() if durability and unsafe else None))
            await first_of(self._stopping.wait(), thread.ended.wait())
        if self._stopping.is_set():
            return
        if thread.lost.is_set():
            self.tell(CoreSteppedDown())
        else:
            self.tell(CoreDown(str(thread.error or "no reason given"), again=True))
            await asyncio.sleep(RESTART_PAUSE_S)

    async def _attach_to(self, url: str, holder: Holder) -> None:
        """Show and control the fleet of the active core in another process, until it goes away."""
        remote = RemoteControl(holder.url, self.settings.api_key)
        verifying: asyncio.Task[None] | None = None
        try:
            async with self._reading(url) as reader:
                self.reader, self.control = reader, remote
                self._show(AttachedTo(holder.pid, holder.host))
                self.tell(Attached(holder.describe()))
                verifying = asyncio.create_task(self._verify(remote))
                watch = LeaseWatch(holder, self.settings.core_lease_ms / 1000)
                while not self._stopping.is_set() and await watch.still_held(reader.redis):
                    await first_of(self._stopping.wait(), asyncio.sleep(ATTACH_POLL_S))
        finally:
            if verifying is not None:
                await cancel_and_wait(verifying)
            await remote.close()
        if not self._stopping.is_set():
            self.tell(ActiveCoreGone())

    async def _verify(self, remote: RemoteControl) -> None:
        """Say at once if actions will be refused (another API_KEY) or the core's API does not answer."""
        try:
            await remote.verify()
        except WaorchError as error:
            self.tell(ActionsRefused(error))

    def _failed(self, problem: str) -> None:
        self._show(NotRunning(problem))
        self.tell(CoreDown(problem, again=False))


class LeaseWatch:
    """Whether the core an attached host follows still holds the lease.

    While Redis does not answer nobody can tell, and that core rides the outage out: it still
    counts as holding. When Redis is back and the lease is gone (it expired during the outage), a
    holder that is not provably dead gets ``grace`` seconds to take it back before this host takes
    over. A lease gone without an outage was given up (the core stopped): take over at once.
    """

    def __init__(self, holder: Holder, grace: float) -> None:
        self.holder = holder
        self.grace = grace
        self._outage = False  # Redis did not answer since the holder was last seen holding
        self._vanished: float | None = None  # monotonic time the lease was first seen gone after an outage

    async def still_held(self, redis: aioredis.Redis) -> bool:
        """One look at the lease."""
        try:
            current = await current_holder(redis)
        except (aioredis.RedisError, OSError):
            self._outage = True
            return True
        if current is not None:
            self._outage, self._vanished = False, None
            return current.owner == self.holder.owner and not current.is_dead()
        if not self._outage or self.holder.is_dead():
            return False
        self._vanished = self._vanished or time.monotonic()
        return time.monotonic() - self._vanished < self.grace


@contextlib.asynccontextmanager
async def _present_on(url: str) -> AsyncIterator[None]:
    """Keep one named connection on the server while the host runs, whatever it does meanwhile: a waorch
    that stops leaves a server it started running while another waorch is connected (``EmbeddedRedis.stop``),
    and a host switching from attached to hosting has, for a moment, no other connection open."""
    redis = redis_client(url, max_connections=1)
    task = asyncio.create_task(_keep_connected(redis), name="redis-presence")
    try:
        yield
    finally:
        await cancel_and_wait(task)
        await redis.aclose(close_connection_pool=True)


async def _keep_connected(redis: aioredis.Redis) -> None:
    """Ping now and then (a connection lost to a restart of the server is made again)."""
    while True:
        with contextlib.suppress(aioredis.RedisError, OSError):
            await redis.ping()
        await asyncio.sleep(PRESENCE_PING_S)


def _settled(task: asyncio.Task[Any]) -> None:
    """Mark a call's outcome as seen (its waiter reports it, unless the waiter was cancelled)."""
    if not task.cancelled():
        task.exception()
