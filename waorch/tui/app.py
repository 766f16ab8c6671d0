"""The control room: a Textual app showing the fleet of the core its host runs here or attaches to."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from textual import on
from textual.app import App, SystemCommand
from textual.message import Message
from textual.screen import Screen

from waorch.clock import Clock, SystemClock
from waorch.config import Settings
from waorch.control import Control
from waorch.core.reader import CoreReader
from waorch.core.sessions import Session
from waorch.errors import InsecureCoreUrl, WaorchError
from waorch.host import (
    ActionsRefused,
    ActiveCoreGone,
    Attached,
    CoreDown,
    CoreHost,
    CoreHosted,
    CoreSteppedDown,
    HostEvent,
    ModeChanged,
    RedisLost,
    where,
)
from waorch.logs import log_to_file
from waorch.tui.bindings import KEYS, PANES
from waorch.tui.detail import DetailScreen
from waorch.tui.forms import Field, Form, Values, done_with, failure_text
from waorch.tui.jobs_text import jobs_text
from waorch.tui.log_screen import LogScreen
from waorch.tui.modals import Confirm, ConfirmQuit, Help
from waorch.tui.proxies_screen import ProxiesScreen
from waorch.tui.queue_screen import QueueScreen
from waorch.tui.sessions_screen import SessionsScreen
from waorch.tui.tiers_screen import TiersScreen

T = TypeVar("T")
STOP_SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)  # each ends every mode the way ctrl+q does


@dataclass(frozen=True)
class Scanner:
    """Something that scans a session's QR code from this room (x on the session screen).

    The room's user supplies it (``waorch demo``: a simulated phone); without one, x is hidden and inert.
    """

    scan: Callable[[Session], Awaitable[str]]  # scan the session's QR code; what to tell the user
    hint: str  # said beside the QR code: how to have it scanned here
    help: str  # x's line in the help


class HostNews(Message):
    """The host told the room something (posted to the app, handled by ``@on(HostNews)``)."""

    def __init__(self, event: HostEvent) -> None:
        super().__init__()
        self.event = event


class ControlRoom(App[None]):
    """Sessions at a glance and every action on them; ``readonly`` refuses every action.

    ``title_suffix`` is said in every title; ``scanner`` adds x (scan the QR code); ``quit_note`` says
    what quitting also does (instead of what happens to the core and the workers).
    """

    CSS_PATH = "control_room.tcss"
    TITLE = "waorch"
    # The panes (keys 1-4); each keeps its own screen stack.
    MODES = {"sessions": SessionsScreen, "proxies": ProxiesScreen, "tiers": TiersScreen, "log": LogScreen}
    DEFAULT_MODE = "sessions"

    def __init__(
        self,
        settings: Settings,
        *,
        readonly: bool = False,
        stop_workers: bool = False,
        clock: Clock | None = None,
        title_suffix: str = "",
        scanner: Scanner | None = None,
        quit_note: str | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.clock = clock or SystemClock()  # the core's, and the time of every age and countdown shown
        if title_suffix:  # every title this app shows says it
            self.TITLE = self.title = f"{type(self).TITLE} · {title_suffix}"
        self.scanner = scanner
        self.quit_note = quit_note
        self.readonly = readonly
        self.stop_workers = stop_workers
        self.host = CoreHost(settings, self._heard, stop_workers=stop_workers, clock=self.clock)

    @property
    def reader(self) -> CoreReader | None:
        """The fleet as stored, while there is a core to read (``None`` before, or when it cannot run)."""
        return self.host.reader

    @property
    def control(self) -> Control | None:
        """The actions on the fleet, while there is a core to act on."""
        return self.host.control

    @property
    def core_state(self) -> str:
        """Where the core runs, in words (the panes say it while there is nothing to read)."""
        return where(self.host.mode.core)

    async def on_mount(self) -> None:
        """Start the host in this loop (the UI keeps running while the core comes up); a hang-up (the
        SSH connection or the terminal closed), SIGTERM or SIGINT quits the way ctrl+q does."""
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self.exit)
        self.host.start()

    async def call(self, awaitable: Awaitable[T]) -> T:
        """Await a read or an action that runs to its end even if the UI task waiting for it is
        cancelled (Textual cancels workers when a screen closes or the app quits): ``CoreHost.call``."""
        return await self.host.call(awaitable)

    async def on_unmount(self) -> None:
        """Stop the core and its HTTP server (workers keep running unless ``stop_workers``)."""
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        await self.host.stop()

    def show_redis(self, reachable: bool) -> None:
        """Whether Redis answered a pane's read (the host says so in the mode, and the title follows)."""
        self.host.redis_seen(reachable)

    def _heard(self, event: HostEvent) -> None:
        self.post_message(HostNews(event))

    @on(HostNews)
    def _host_news(self, news: HostNews) -> None:
        """Say what the host told: in the title, in a notice."""
        match news.event:
            case ModeChanged(mode):
                self.title = f"{self.TITLE} · {mode.describe()}"
            case RedisLost():
                self.notify(
                    "Redis is unavailable; the fleet shown is from before. Everything resumes when it is back.",
                    title="Redis unavailable",
                    severity="error",
                    timeout=10,
                )
            case CoreHosted(api_url, durability_warning):
                self._announce(api_url, durability_warning)
            case CoreSteppedDown():
                self.notify(
                    "This room's core stepped down (its lease was taken over or could not be renewed).",
                    severity="warning",
                    timeout=15,
                )
            case CoreDown(problem, again=True):
                self.notify(
                    f"The core stopped ({problem}); starting it again. Details in waorch.log.",
                    severity="error",
                    timeout=30,
                )
            case CoreDown(problem):
                self.notify(problem, title="The core could not start", severity="error", timeout=30)
            case Attached(holder):
                self.notify(f"Attached to the active core ({holder}).", timeout=8)
            case ActionsRefused(error):
                self._refused(error)
            case ActiveCoreGone():
                self.notify("The active core went away; this control room takes over.", severity="warning", timeout=15)

    def _refused(self, error: WaorchError) -> None:
        hint = " Use the API_KEY of the active core." if error.code == "UNAUTHORIZED" else ""
        title = (
            "This control room keeps its API_KEY"
            if error.code == InsecureCoreUrl.code
            else "The active core refuses this control room"
        )
        self.notify(
            f"{error.message}.{hint} Its fleet is shown; actions will fail.", title=title, severity="error", timeout=30
        )

    def _announce(self, api_url: str, durability_warning: str | None) -> None:
        for name in self.settings.generated_secrets:
            path = self.settings.data_dir / "secrets" / name.lower()
            self.notify(f"Generated {name}; stored in {path} (mode 600).", timeout=15)
        if not self.settings.proxies:
            self.notify(
                "No PROXY_URL_<n> configured: sessions without a proxy connect directly.",
                severity="warning",
                timeout=15,
            )
        if durability_warning is not None:
            self.notify(
                durability_warning, title="Accepted messages are not power-cut safe", severity="warning", timeout=30
            )
        self.notify(f"API on {api_url}", timeout=5)

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

    def action_backup(self) -> None:
        """Take a backup now, by the active core (the log pane shows it, or why it failed)."""
        if control := self._allowed("a backup"):
            self._run("Backup", partial(self._backup, control))

    async def _backup(self, control: Control) -> None:
        info = await control.take_backup()
        self.notify(f"Backup {info.name} written ({info.size // 1024} KB, {info.sessions} session(s)).")

    def action_backups(self) -> None:
        """The newest backups in a notice (reading them is allowed read-only too)."""
        if self.control is None:
            self.notify("The core is not running yet.", severity="warning")
            return
        self._run("Listing the backups", partial(self._list_backups, self.control))

    async def _list_backups(self, control: Control) -> None:
        archives = await control.backups()
        lines = [f"{info.name}  {info.size // 1024} KB  {info.sessions} session(s)" for info in archives[:10]]
        self.notify("\n".join(lines) or "No backups yet: b on the log pane takes one.", title="Backups", timeout=20)

    def action_provision(self) -> None:
        """Ask for phone and proxy, provision, then follow the session until its QR code appears."""
        control = self._allowed("provisioning")
        if control is None:
            return
        fields = [
            Field("phone", "Phone (optional, international format)", placeholder="+972501234567"),
            Field(
                "proxy",
                "Proxy (optional; empty: one from the pool)",
                placeholder="socks5h://user:pass@host:port",
                password=True,
            ),
        ]
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
            self.push_screen(
                Confirm(question, "Delete"),
                partial(self._confirmed, f"Delete of {session_id}", partial(self._delete, control, session_id)),
            )

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
            self.push_screen(
                Confirm(question, "Log out"),
                partial(self._confirmed, f"Logout of {session_id}", partial(self._logout, control, session_id)),
            )

    async def _logout(self, control: Control, session_id: str) -> None:
        await control.logout(session_id)
        self.notify(f"{session_id}: logout requested.")

    def _confirmed(self, title: str, operation: Callable[[], Awaitable[object]], yes: bool | None) -> None:
        if yes:
            self._run(title, operation)

    def action_pause(self) -> None:
        """Pause the selected session's queue, or resume it if paused (or held by its failure breaker)."""
        if chosen := self._selected("pause or resume"):
            control, session_id = chosen
            self._run(f"Pause/resume of {session_id}", partial(self._toggle_pause, control, session_id))

    async def _toggle_pause(self, control: Control, session_id: str) -> None:
        """Pause; or resume a paused session, or one its failure breaker holds (that ends the hold)."""
        reader = self._reader()
        session = await reader.store.get(session_id)
        held = session.breaker_until > reader.clock.now()
        paused = not session.paused and not held
        await control.set_paused(session_id, paused)
        depth = await self._reader().messages.depth(session_id)
        self.notify(f"{session_id}: sending {'paused' if paused else 'resumed'} ({depth} queued).")

    def action_pairing_code(self) -> None:
        """Ask for a pairing code for the selected session (login without scanning)."""
        if chosen := self._selected("get a pairing code"):
            control, session_id = chosen
            self._run(f"Pairing code for {session_id}", partial(self._ask_pairing_phone, control, session_id))

    async def _ask_pairing_phone(self, control: Control, session_id: str) -> None:
        session = await self._reader().store.get(session_id)
        field = Field(
            "phone",
            "Phone to link (international format; the code is typed on it)",
            session.phone,
            placeholder="+972501234567",
        )
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
            fields = [
                Field("to", "To (international format)", placeholder="+972501234567"),
                Field("message", "Message", "Test message from waorch"),
            ]
            self.push_screen(
                Form(
                    f"Send a test message from {session_id}",
                    fields,
                    "Send",
                    partial(self._send_test, control, session_id),
                )
            )

    async def _send_test(self, control: Control, session_id: str, values: Values) -> None:
        queued = await control.send(session_id, values["to"], values["message"])
        self.notify(f"Message {queued.message_id} queued on {queued.session_id}.")

    def action_pin_tier(self) -> None:
        """Pin the selected session to a trust tier by name (empty: the tier its age reaches)."""
        if chosen := self._selected("pin a tier"):
            control, session_id = chosen
            self._run(f"Tier pin of {session_id}", partial(self._ask_tier, control, session_id))

    async def _ask_tier(self, control: Control, session_id: str) -> None:
        session = await self._reader().store.get(session_id)
        names = ", ".join(tier.name for tier in await self._reader().tiers.all())
        field = Field("tier", f"Tier ({names}); empty: the tier its age reaches", session.tier_pin)
        self.push_screen(
            Form(f"Pin {session_id} to a trust tier", [field], "Pin", partial(self._pin, control, session_id))
        )

    async def _pin(self, control: Control, session_id: str, values: Values) -> None:
        await control.pin_tier(session_id, values["tier"] or None)
        self.notify(
            f"{session_id}: " + (f"pinned to tier {values['tier']}." if values["tier"] else "tier by age again.")
        )

    def action_jobs(self) -> None:
        """Say when each daily job runs next and how its last run went."""
        self._run("Scheduled jobs", self._show_jobs)

    async def _show_jobs(self) -> None:
        reader = self._reader()
        text = jobs_text(await reader.jobs.views(), self.settings.timezone, reader.clock.now())
        self.notify(text, title="Scheduled jobs", timeout=20)

    def _reader(self) -> CoreReader:
        """The fleet as stored (``WaorchError`` while there is no core to read)."""
        if self.reader is None:
            raise WaorchError("the core is not running")
        return self.reader

    def action_scan(self) -> None:
        """With a ``scanner`` only: scan the selected session's QR code."""
        if self.scanner is not None and (chosen := self._selected("scan")):
            _, session_id = chosen
            self._run(f"Scan for {session_id}", partial(self._scan, self.scanner, session_id))

    async def _scan(self, scanner: Scanner, session_id: str) -> None:
        self.notify(await scanner.scan(await self._reader().store.get(session_id)))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """x scans only with a ``scanner`` (without one its key is hidden and inert)."""
        return self.scanner is not None if action == "scan" else True

    def action_help(self) -> None:
        """Show every key."""
        self.push_screen(Help(KEYS + ([("x", self.scanner.help)] if self.scanner else [])))

    def action_pane(self, mode: str) -> None:
        """Go to a pane as it was left; pressed in that pane, to its first screen."""
        if self.current_mode != mode:
            self.switch_mode(mode)
            return
        for _ in self.screen_stack[1:]:
            self.pop_screen()

    def action_request_quit(self) -> None:
        """q: quit; when the core runs in this room, ask first (it stops with the room)."""
        if not self.host.hosts_core or self.readonly:
            self.exit()
            return
        if self.quit_note is not None:
            consequence = self.quit_note
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
            yield SystemCommand(
                f"Log out {session_id}", "Log this session out of WhatsApp (asks first)", self.action_logout
            )
            yield SystemCommand(
                f"Pause/resume {session_id}", "Pause or resume this session's sending", self.action_pause
            )
            yield SystemCommand(
                f"Pairing code for {session_id}", "Link a phone without scanning", self.action_pairing_code
            )
            yield SystemCommand(f"Queue of {session_id}", "Head messages, next send, usage", self.action_queue)
            yield SystemCommand(f"Test message from {session_id}", "Queue a message to a number", self.action_send_test)
            yield SystemCommand(f"Pin {session_id} to a tier", "Or back to its age's tier", self.action_pin_tier)
            if self.scanner is not None:
                yield SystemCommand(f"Scan {session_id}'s QR", self.scanner.help, self.action_scan)
        if isinstance(screen, ProxiesScreen | TiersScreen):
            yield from screen.commands()
        for key, mode, label in PANES:
            yield SystemCommand(
                f"{label} pane", f"Switch to the {label.lower()} pane (key {key})", partial(self.action_pane, mode)
            )
        yield SystemCommand("Scheduled jobs", "The daily jobs: next run and last result", self.action_jobs)
        yield SystemCommand(
            "Take a backup", "Login data and state of the whole fleet, now (key b, log pane)", self.action_backup
        )
        yield SystemCommand("Backups", "The newest backups in BACKUPS_DIR", self.action_backups)
        yield SystemCommand("Keys", "Every key and what it does", self.action_help)


def run(settings: Settings, *, readonly: bool = False) -> None:
    """Log to ``DATA_DIR/waorch.log``, then run the control room until the user quits."""
    log_to_file(settings.data_dir)
    ControlRoom(settings, readonly=readonly).run()
