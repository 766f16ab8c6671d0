"""The control room: a Textual app that hosts the core, the HTTP API and the sessions in one loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import redis.asyncio as aioredis
from textual.app import App, SystemCommand
from textual.screen import Screen

from waorch.clock import Clock, SystemClock
from waorch.config import Settings
from waorch.control import Control, RemoteControl
from waorch.core.core import Core
from waorch.core.lease import Holder, current_holder
from waorch.core.redis_server import is_outage, problem_of, redis_client
from waorch.errors import CoreActive, InsecureCoreUrl, WaorchError
from waorch.private_files import private_dir, private_file
from waorch.redis_url import redact_url
from waorch.service import CoreThread, Service, embedded_or_configured_redis, first_of
from waorch.tui.bindings import DEMO_KEYS, KEYS, PANES
from waorch.tui.detail import DetailScreen
from waorch.tui.forms import Field, Form, Values, done_with, failure_text
from waorch.tui.log_screen import LogScreen
from waorch.tui.modals import Confirm, ConfirmQuit, Help
from waorch.tui.proxies_screen import ProxiesScreen
from waorch.tui.queue_screen import QueueScreen
from waorch.tui.sessions_screen import SessionsScreen
from waorch.tui.tiers_screen import TiersScreen

if TYPE_CHECKING:
    from waorch.demo import Simulation

T = TypeVar("T")
ATTACH_POLL_S = 1.0  # how often an attached control room checks that its core still holds the lease
STOP_SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)  # each ends every mode the way ctrl+q does
REDIS_RETRY_S = 1.0  # how often the room tries again while Redis does not answer
log = logging.getLogger("waorch.tui")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_to_file(data_dir: Path) -> None:
    """Send every log record to ``DATA_DIR/waorch.log`` (nothing may write to the terminal but Textual)."""
    path = private_file(private_dir(data_dir) / "waorch.log")  # phone numbers, tracebacks: the owner's alone
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


class ControlRoom(App[None]):
    """Sessions at a glance and every action on them; ``readonly`` refuses every action."""

    CSS_PATH = "control_room.tcss"
    TITLE = "waorch"
    # The panes (keys 1-4); each keeps its own screen stack.
    MODES = {"sessions": SessionsScreen, "proxies": ProxiesScreen, "tiers": TiersScreen, "log": LogScreen}
    DEFAULT_MODE = "sessions"

    def __init__(self, settings: Settings, *, readonly: bool = False, stop_workers: bool = False,
                 simulation: Simulation | None = None, clock: Clock | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.clock = clock or SystemClock()  # the core's, and the time of every age and countdown shown
        self.simulation = simulation  # `waorch demo`: the simulated network this fleet lives in
        if simulation is not None:  # every title this app shows says so
            self.TITLE = self.title = f"{type(self).TITLE} · SIMULATION (tiers active all day)"
        self.readonly = readonly
        self.stop_workers = stop_workers
        self.service: Service | None = None  # set while the core runs in this process
        self.core: Core | None = None  # the running core, or a read view of the attached one
        self.control: Control | None = None
        self.core_state = "starting the core…"
        self.redis_reachable = True
        self._stopping = asyncio.Event()
        self._serving: asyncio.Task[None] | None = None
        self._calls: set[asyncio.Task[Any]] = set()

    async def on_mount(self) -> None:
        """Start the core in this loop (the UI keeps running while it comes up); a hang-up (the SSH
        connection or the terminal closed), SIGTERM or SIGINT quits the way ctrl+q does."""
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self.exit)
        self._serving = asyncio.create_task(self._serve())

    async def call(self, awaitable: Awaitable[T]) -> T:
        """Await a core call that runs to its end even if the UI task waiting for it is cancelled.

        Textual cancels workers when a screen closes or the app quits; a Redis command or an action
        cut in half would leave a broken connection or a half-done change. The core stops only
        after every call has finished.
        """
        task = asyncio.ensure_future(awaitable)
        self._calls.add(task)
        task.add_done_callback(_settled)
        task.add_done_callback(self._calls.discard)
        return await asyncio.shield(task)

    async def on_unmount(self) -> None:
        """Stop the core and its HTTP server (workers keep running unless ``stop_workers``)."""
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        await self._settle_calls()
        self._stopping.set()
        if self._serving is not None:
            await self._serving

    async def _serve(self) -> None:
        """Run the core here, or attach to the one already active on this Redis; switch when that changes."""
        try:
            async with embedded_or_configured_redis(self.settings) as url:
                while not self._stopping.is_set():
                    try:
                        await self._host_or_attach(url)
                    except aioredis.RedisError as error:
                        if not is_outage(error):
                            raise
                        log.warning("Redis unavailable: %s", problem_of(error))  # try again when it is back
                        self.show_redis(False)
                        await first_of(self._stopping.wait(), asyncio.sleep(REDIS_RETRY_S))
        except WaorchError as error:
            self._failed(error.message)
        except (aioredis.RedisError, OSError) as error:  # e.g. the API's port is taken
            log.exception("the core could not start")
            self._failed(str(error))

    async def _host_or_attach(self, url: str) -> None:
        holder = await self._holder(url)
        self.show_redis(True)
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
    async def _viewing(self, url: str) -> AsyncIterator[Core]:
        """A core that is never started, whose stores the screens read; on exit the calls under way
        finish before its client is closed (a late read would leave a connection open)."""
        redis = redis_client(url, max_connections=16)
        view = Core(self.settings, redis, clock=self.clock)
        try:
            yield view
        finally:
            self.service = self.core = self.control = None
            await self._settle_calls()
            await view.stop()
            await redis.aclose(close_connection_pool=True)

    async def _run_core(self, url: str) -> None:
        """Host the core (on its own loop, in a thread) until the app stops or another core takes over."""
        async with CoreThread(self.settings, url, stop_workers=self.stop_workers, clock=self.clock) as thread, \
                self._viewing(url) as view:
            service = thread.service
            assert service is not None
            self.service, self.core, self.control = service, view, thread.control()
            self._show_mode(f"core here · API {service.base_url.removeprefix('http://')}")
            log.info("control room: serving on %s (Redis %s)", service.base_url, redact_url(service.redis_url))
            self._announce(service)
            await first_of(self._stopping.wait(), thread.ended.wait())
        if self._stopping.is_set():
            return
        if thread.lost.is_set():
            self.notify("This room's core stepped down (its lease was taken over or could not be renewed).",
                        severity="warning", timeout=15)
        else:
            self.notify(f"The core stopped ({thread.error or 'no reason given'}); starting it again. "
                        "Details in waorch.log.", severity="error", timeout=30)
            await asyncio.sleep(1.0)  # no tight loop if it keeps failing

    async def _attach_to(self, url: str, holder: Holder) -> None:
        """Show and control the fleet of the active core in another process, until it goes away."""
        remote = RemoteControl(holder.url, self.settings.api_key)
        try:
            async with self._viewing(url) as view:
                self.core, self.control = view, remote
                self._show_mode(f"attached to pid {holder.pid} on {holder.host}")
                self.notify(f"Attached to the active core ({holder.describe()}).", timeout=8)
                self.run_worker(self._verify(remote), group="attach")
                watch = LeaseWatch(holder, self.settings.core_lease_ms / 1000)
                while not self._stopping.is_set() and await watch.still_held(view.redis):
                    await first_of(self._stopping.wait(), asyncio.sleep(ATTACH_POLL_S))
        finally:
            await remote.close()
        if not self._stopping.is_set():
            self.notify("The active core went away; this control room takes over.", severity="warning", timeout=15)

    async def _verify(self, remote: RemoteControl) -> None:
        """Say at once if actions will be refused (another API_KEY) or the core's API does not answer."""
        try:
            await remote.verify()
        except WaorchError as error:
            hint = " Use the API_KEY of the active core." if error.code == "UNAUTHORIZED" else ""
            title = ("This control room keeps its API_KEY" if error.code == InsecureCoreUrl.code
                     else "The active core refuses this control room")
            self.notify(f"{error.message}.{hint} Its fleet is shown; actions will fail.",
                        title=title, severity="error", timeout=30)

    def _show_mode(self, mode: str) -> None:
        self.core_state = mode
        self._show_title()

    def show_redis(self, reachable: bool) -> None:
        """Say in the title whether Redis answers (the panes call this after each read)."""
        if reachable == self.redis_reachable:
            return
        self.redis_reachable = reachable
        self._show_title()
        if not reachable:
            self.notify("Redis is unavailable; the fleet shown is from before. Everything resumes when it is back.",
                        title="Redis unavailable", severity="error", timeout=10)

    def _show_title(self) -> None:
        self.title = f"{self.TITLE} · {self.core_state}" + ("" if self.redis_reachable else " · REDIS UNAVAILABLE")

    def _failed(self, problem: str) -> None:
        self.core_state = f"the core is not running: {problem}"
        self.notify(problem, title="The core could not start", severity="error", timeout=30)

    def _announce(self, service: Service) -> None:
        for name in self.settings.generated_secrets:
            path = self.settings.data_dir / "secrets" / name.lower()
            self.notify(f"Generated {name}; stored in {path} (mode 600).", timeout=15)
        if not self.settings.proxies:
            self.notify("No PROXY_URL_<n> configured: sessions without a proxy connect directly.",
                        severity="warning", timeout=15)
        durability = service.core.durability
        if durability is not None and not durability.power_cut_safe:
            self.notify(durability.describe(), title="Accepted messages are not power-cut safe", severity="warning",
                        timeout=30)
        self.notify(f"API on {service.base_url}", timeout=5)

    # ---- actions -----------------------------------------------------------------------------

    def _allowed(self, what: str) -> Control | None:
        """The fleet's control, if ``what`` may run now; otherwise say why and return ``None``."""
        if self.readonly:
            self.notify(f"Read-only mode: {what} is disabled.", severity="warning")
            return None
        if self.control is None:
            self.notify("The core is not running yet.", severity="warning")
            return None
        return self.control

    def _selected(self, what: str) -> tuple[Control, str] | None:
        control = self._allowed(what)
        if control is None:
            return None
        session_id = getattr(self.screen, "selected_id", None)
        if not session_id:
            self.notify(f"No session selected to {what}.", severity="warning")
            return None
        return control, session_id

    def _run(self, title: str, operation: Callable[[], Awaitable[object]]) -> None:
        """Run ``operation`` off the UI path; a failure becomes a notice, never a traceback."""

        async def attempt() -> None:
            try:
                await self.call(operation())
            except Exception as error:
                self.notify(failure_text(error, title), title=f"{title} failed", severity="error", timeout=10)

        self.run_worker(attempt(), group="actions")

    def action_provision(self) -> None:
        """Ask for phone and proxy, provision, then follow the session until its QR code appears."""
        control = self._allowed("provisioning")
        if control is None:
            return
        fields = [Field("phone", "Phone (optional, international format)", placeholder="+972501234567"),
                  Field("proxy", "Proxy (optional; empty: one from the pool)", placeholder="socks5h://user:pass@host:port",
                        password=True)]
        form = Form("Provision a session", fields, "Provision", partial(self._provision, control))
        self.push_screen(form, done_with(self.open_detail))

    async def _provision(self, control: Control, values: Values) -> str:
        session_id = await control.provision(values["phone"] or None, values["proxy"] or None)
        self.notify(f"{session_id} provisioned; starting its worker.")
        return session_id

    def action_restart(self) -> None:
        """Restart the selected session's worker."""
        if chosen := self._selected("restart"):
            control, session_id = chosen
            self._run(f"Restart of {session_id}", partial(self._restart, control, session_id))

    async def _restart(self, control: Control, session_id: str) -> None:
        await control.restart(session_id)
        self.notify(f"{session_id}: restart queued.")

    def action_delete(self) -> None:
        """Delete the selected session, after confirmation."""
        if chosen := self._selected("delete"):
            control, session_id = chosen
            question = f"Delete session {session_id}? Its worker stops and its login data is deleted."
            self.push_screen(Confirm(question, "Delete"), partial(self._confirmed, f"Delete of {session_id}",
                                                                  partial(self._delete, control, session_id)))

    async def _delete(self, control: Control, session_id: str) -> None:
        await control.delete(session_id)
        if isinstance(self.screen, DetailScreen) and self.screen.session_id == session_id:
            self.pop_screen()
        self.notify(f"{session_id} deleted.")

    def action_logout(self) -> None:
        """Log the selected session out of WhatsApp, after confirmation."""
        if chosen := self._selected("log out"):
            control, session_id = chosen
            question = f"Log session {session_id} out of WhatsApp? It will need a new QR scan."
            self.push_screen(Confirm(question, "Log out"), partial(self._confirmed, f"Logout of {session_id}",
                                                                   partial(self._logout, control, session_id)))

    async def _logout(self, control: Control, session_id: str) -> None:
        await control.logout(session_id)
        self.notify(f"{session_id}: logout requested.")

    def _confirmed(self, title: str, operation: Callable[[], Awaitable[object]], yes: bool | None) -> None:
        if yes:
            self._run(title, operation)

    def action_pause(self) -> None:
        """Pause the selected session's queue, or resume it if paused."""
        if chosen := self._selected("pause or resume"):
            control, session_id = chosen
            self._run(f"Pause/resume of {session_id}", partial(self._toggle_pause, control, session_id))

    async def _toggle_pause(self, control: Control, session_id: str) -> None:
        paused = not (await self._view().store.get(session_id)).paused
        await control.set_paused(session_id, paused)
        depth = await self._view().messages.depth(session_id)
        self.notify(f"{session_id}: sending {'paused' if paused else 'resumed'} ({depth} queued).")

    def action_pairing_code(self) -> None:
        """Ask for a pairing code for the selected session (login without scanning)."""
        if chosen := self._selected("get a pairing code"):
            control, session_id = chosen
            self._run(f"Pairing code for {session_id}", partial(self._ask_pairing_phone, control, session_id))

    async def _ask_pairing_phone(self, control: Control, session_id: str) -> None:
        session = await self._view().store.get(session_id)
        field = Field("phone", "Phone to link (international format; the code is typed on it)", session.phone,
                      placeholder="+972501234567")
        form = Form(f"Pairing code for {session_id}", [field], "Get code", partial(self._pair, control, session_id))
        self.push_screen(form, done_with(partial(self._show_code, session_id)))

    async def _pair(self, control: Control, session_id: str, values: Values) -> str:
        return await control.pairing_code(session_id, values["phone"])

    def _show_code(self, session_id: str, code: str) -> None:
        if isinstance(self.screen, DetailScreen) and self.screen.session_id == session_id:
            self.screen.pairing_code = code
        self.notify(f"Pairing code for {session_id}: {code}", timeout=60)

    def action_queue(self) -> None:
        """Show the selected session's sending queue."""
        session_id = getattr(self.screen, "selected_id", None)
        if not session_id:
            self.notify("No session selected to show its queue.", severity="warning")
        elif not isinstance(self.screen, QueueScreen):
            self.push_screen(QueueScreen(session_id))

    def action_send_test(self) -> None:
        """Ask for a number and a text, and queue that message on the selected session."""
        if chosen := self._selected("send a test message"):
            control, session_id = chosen
            fields = [Field("to", "To (international format)", placeholder="+972501234567"),
                      Field("message", "Message", "Test message from waorch")]
            self.push_screen(Form(f"Send a test message from {session_id}", fields, "Send",
                                  partial(self._send_test, control, session_id)))

    async def _send_test(self, control: Control, session_id: str, values: Values) -> None:
        queued = await control.send(session_id, values["to"], values["message"])
        self.notify(f"Message {queued.message_id} queued on {queued.session_id}.")

    def action_pin_tier(self) -> None:
        """Pin the selected session to a trust tier by name (empty: the tier its age reaches)."""
        if chosen := self._selected("pin a tier"):
            control, session_id = chosen
            self._run(f"Tier pin of {session_id}", partial(self._ask_tier, control, session_id))

    async def _ask_tier(self, control: Control, session_id: str) -> None:
        session = await self._view().store.get(session_id)
        names = ", ".join(tier.name for tier in await self._view().tiers.all())
        field = Field("tier", f"Tier ({names}); empty: the tier its age reaches", session.tier_pin)
        self.push_screen(Form(f"Pin {session_id} to a trust tier", [field], "Pin", partial(self._pin, control, session_id)))

    async def _pin(self, control: Control, session_id: str, values: Values) -> None:
        await control.pin_tier(session_id, values["tier"] or None)
        self.notify(f"{session_id}: " + (f"pinned to tier {values['tier']}." if values["tier"] else "tier by age again."))

    def _view(self) -> Core:
        """The core whose stores the screens read (the running one, or a read view when attached)."""
        if self.core is None:
            raise WaorchError("the core is not running")
        return self.core

    def action_scan(self) -> None:
        """``waorch demo`` only: a simulated phone scans the selected session's QR code."""
        if self.simulation is not None and (chosen := self._selected("scan")):
            _, session_id = chosen
            self._run(f"Scan for {session_id}", partial(self._scan, self.simulation, session_id))

    async def _scan(self, simulation: Simulation, session_id: str) -> None:
        phone = await simulation.scan(await self._view().store.get(session_id))
        self.notify(f"{session_id}: the simulated phone {phone} scanned the QR code; connecting…")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The simulated scan exists only in ``waorch demo`` (elsewhere its key is hidden and inert)."""
        return self.simulation is not None if action == "scan" else True

    def action_help(self) -> None:
        """Show every key."""
        self.push_screen(Help(KEYS + (DEMO_KEYS if self.simulation else [])))

    def action_pane(self, mode: str) -> None:
        """Go to a pane as it was left; pressed in that pane, to its first screen."""
        if self.current_mode != mode:
            self.switch_mode(mode)
            return
        for _ in self.screen_stack[1:]:
            self.pop_screen()

    def action_request_quit(self) -> None:
        """q: quit; when the core runs in this room, ask first (it stops with the room)."""
        if self.service is None or self.readonly:
            self.exit()
            return
        if self.simulation is not None:
            consequence = "The simulated network and its sessions are removed."
        elif self.stop_workers:
            consequence = "The core stops with it, and so do the workers."
        else:
            consequence = "The core stops with it (sending, restarts, the API); workers keep running."
        question = f"Quit the control room? {consequence} Press q again to quit."
        self.push_screen(ConfirmQuit(question, "Quit"), lambda yes: self.exit() if yes else None)

    def open_detail(self, session_id: str) -> None:
        """Show one session's QR code, status and history."""
        self.push_screen(DetailScreen(session_id))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Every action, in the command palette too."""
        yield from super().get_system_commands(screen)
        yield SystemCommand("Provision a session", "New session: phone and proxy optional", self.action_provision)
        session_id = getattr(screen, "selected_id", None)
        if session_id:
            yield SystemCommand(f"Restart {session_id}", "Restart this session's worker", self.action_restart)
            yield SystemCommand(f"Delete {session_id}", "Delete this session (asks first)", self.action_delete)
            yield SystemCommand(f"Log out {session_id}", "Log this session out of WhatsApp (asks first)", self.action_logout)
            yield SystemCommand(f"Pause/resume {session_id}", "Pause or resume this session's sending", self.action_pause)
            yield SystemCommand(f"Pairing code for {session_id}", "Link a phone without scanning", self.action_pairing_code)
            yield SystemCommand(f"Queue of {session_id}", "Head messages, next send, usage", self.action_queue)
            yield SystemCommand(f"Test message from {session_id}", "Queue a message to a number", self.action_send_test)
            yield SystemCommand(f"Pin {session_id} to a tier", "Or back to its age's tier", self.action_pin_tier)
            if self.simulation is not None:
                yield SystemCommand(f"Scan {session_id}'s QR (simulated)", "A simulated phone scans it", self.action_scan)
        if isinstance(screen, ProxiesScreen | TiersScreen):
            yield from screen.commands()
        for key, mode, label in PANES:
            yield SystemCommand(f"{label} pane", f"Switch to the {label.lower()} pane (key {key})", partial(self.action_pane, mode))
        yield SystemCommand("Keys", "Every key and what it does", self.action_help)


class LeaseWatch:
    """Whether the core an attached room follows still holds the lease.

    While Redis does not answer nobody can tell, and that core rides the outage out: it still
    counts as holding. When Redis is back and the lease is gone (it expired during the outage), a
    holder that is not provably dead gets ``grace`` seconds to take it back before this room takes
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


def _settled(task: asyncio.Task[Any]) -> None:
    """Mark a call's outcome as seen (its waiter reports it, unless the waiter was cancelled)."""
    if not task.cancelled():
        task.exception()


def run(settings: Settings, *, readonly: bool = False) -> None:
    """Log to ``DATA_DIR/waorch.log``, then run the control room until the user quits."""
    log_to_file(settings.data_dir)
    ControlRoom(settings, readonly=readonly).run()
