"""The ``neonize`` engine: one real WhatsApp account through neonize (whatsmeow), behind its proxy.

The session's login lives in one sqlite database in its private auth dir. neonize's events are
mapped to waorch events by :mod:`waorch.worker.neonize.events` (where the reasons ``run()`` returns
are listed). Two things neonize does not do are done here: ending the QR phase (whatsmeow stops
silently after the last code) and bounding a connect that hangs (a proxy that accepts TCP but
never answers makes neonize's ``connect()``, ``stop()`` and ``is_connected`` block forever): the
process then ends itself with ``EXIT_HUNG`` after reporting ``PROXY_ERROR``.

Options (``EngineConfig.options``) are the fields of ``EngineOptions``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from waorch.cancel import cancel_and_wait
from waorch.worker.engine import EngineConfig, EngineError, EventSink, SendResult
from waorch.worker.main import EXIT_CODES
from waorch.worker.neonize import events
from waorch.worker.neonize.events import Outcome
from waorch.worker.neonize.files import SessionFiles
from waorch.worker.neonize.hard_exit import EXIT_HUNG, exit_hard_later
from waorch.worker.neonize.lib import (
    ChatPresence,
    ChatPresenceMedia,
    ClientName,
    ClientOutdatedEv,
    ClientType,
    ConnectedEv,
    ConnectFailureEv,
    DeviceProps,
    DisconnectedEv,
    IsOnWhatsAppError,
    KeepAliveRestoredEv,
    KeepAliveTimeoutEv,
    LoggedOutEv,
    LogoutError,
    Message,
    MessageEv,
    NewAClient,
    PairPhoneError,
    PairStatusEv,
    SendMessageError,
    SendPresenceError,
    StreamReplacedEv,
    TemporaryBanEv,
    pb,
)
from waorch.worker.neonize.route import ProxyRoute

log = logging.getLogger(__name__)
# Media needs ffmpeg; waorch sends text only, so neonize's warning about it is noise.
logging.getLogger("neonize.utils.ffmpeg").setLevel(logging.ERROR)
# neonize hands its own logger's level to whatsmeow: INFO keeps the Go side's debug chatter out.
logging.getLogger("neonize.utils.log").setLevel(logging.INFO)

T = TypeVar("T")
PLATFORM = DeviceProps.CHROME
CLIENT_TYPE = ClientType.CHROME
REQUEST_TIMEOUT = 30.0
EMIT_TIMEOUT = 2.0
PHONE = re.compile(r"\d{7,15}")


@dataclass(frozen=True)
class EngineOptions:
    """Tunables, read from ``EngineConfig.options`` (seconds unless said otherwise)."""

    connect_timeout: float = 30.0
    """No QR code, connection or error within this after connecting: the worker reports and exits."""
    hang_exit_grace: float = 5.0
    """Time a hung worker gets to deliver its last events before ``os._exit``."""
    stop_timeout: float = 5.0
    """Time neonize gets to stop before the process is ended hard."""
    qr_grace: float = 10.0
    """Slack after the last QR code's lifetime before the QR phase counts as over."""
    executor_threads: int = 32
    """Threads of the loop's default executor (each neonize client holds one); 0: the loop's own (a worker
    host sizes one for all its sessions)."""
    hard_exit: int = 1
    """1: a hung neonize call ends the process (after ``hang_exit_grace``); 0 (a worker host, whose other
    sessions must go on): the session ends ``hung`` and its host is drained."""

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> EngineOptions:
        """Options given by name; a value that is not a number is a ``CONFIG`` error."""
        values: dict[str, Any] = {}
        for option in fields(cls):
            if option.name in options:
                convert = int if option.type == "int" else float
                try:
                    values[option.name] = convert(options[option.name])
                except (TypeError, ValueError) as error:
                    raise EngineError("CONFIG", f"neonize option {option.name}: {error}") from error
        return cls(**values)


def _exit_code(reason: str) -> int:
    return EXIT_HUNG if reason == "hung" else EXIT_CODES.get(reason, 1)


def _check_phone(phone: str) -> None:
    if not PHONE.fullmatch(phone):
        raise EngineError("INVALID_PHONE", "the number must be 7-15 digits, no +")


async def _bounded(call: Awaitable[T], what: str) -> T:
    """Wait for a neonize call at most ``REQUEST_TIMEOUT`` (its thread may go on: the outcome is unknown)."""
    try:
        return await asyncio.wait_for(call, REQUEST_TIMEOUT)
    except TimeoutError as error:
        raise EngineError("TIMEOUT", f"WhatsApp did not answer the {what} in time") from error


class NeonizeEngine:
    """One session's WhatsApp connection through neonize (implements ``waorch.worker.engine.Engine``)."""

    def __init__(self, config: EngineConfig) -> None:
        self._config = config
        self._options = EngineOptions.from_mapping(config.options)
        self._files = SessionFiles(config.auth_dir)
        self._route = ProxyRoute.from_url(config.proxy_url)
        self._client: NewAClient | None = None
        self._sink: EventSink | None = None
        self._final: str | None = None
        self._ended = asyncio.Event()
        self._started = asyncio.Event()
        self._qr_shown = asyncio.Event()
        self._stopping = asyncio.Event()
        self._finished = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._calls = 0
        self._qr_count = 0
        self._qr_expiry: asyncio.Task[None] | None = None
        self._phone: str | None = None
        self._online = False
        self._resume_at: float | None = None
        self._forget_login = False
        self._hung = False  # a neonize call never returned (a worker host's session; else the process ends)
        self._recipients: dict[str, pb.JID | None] = {}

    # -- running ---------------------------------------------------------------------------------

    async def run(self, sink: EventSink) -> str:
        """Connect through the proxy and stay connected until stopped or a final condition."""
        self._sink = sink
        try:
            return await self._run() if self._final is None else self._final
        finally:
            self._finished.set()

    async def _run(self) -> str:
        loop = asyncio.get_running_loop()
        if self._options.executor_threads:
            loop.set_default_executor(ThreadPoolExecutor(self._options.executor_threads, thread_name_prefix="neonize"))
        client = self._client = self._new_client()
        log.info("session %s: connecting to WhatsApp through %s", self._config.session_id, self._route.redacted)
        task: asyncio.Task[None] = await client.connect(self._route.settings())
        watchdog = asyncio.create_task(self._watch_connect())
        ended = asyncio.create_task(self._ended.wait())
        try:
            await asyncio.wait({task, ended}, return_when=asyncio.FIRST_COMPLETED)
            if self._final is None:
                await self._apply(self._connect_task_outcome(task))
        finally:
            for helper in (watchdog, ended, self._qr_expiry):
                await self._cancel(helper)
        return await self._close(client, task)

    def _new_client(self) -> NewAClient:
        """A client on the session's database, shown on the phone as ``device_name``, handlers registered."""
        props = DeviceProps(os=self._config.device_name, platformType=PLATFORM)
        client = NewAClient(name=str(self._files.prepare()), props=props)
        client.event.qr(self._guarded(self._on_qr))
        for event_type, handler in self._handlers().items():
            client.event(event_type)(self._guarded(handler))
        return client

    def _handlers(self) -> dict[type[Any], Callable[[Any], Awaitable[None]]]:
        apply = self._apply
        return {
            ConnectedEv: self._on_connected,
            PairStatusEv: lambda event: apply(events.pair_status(event)),
            LoggedOutEv: lambda event: apply(events.logged_out(event)),
            DisconnectedEv: lambda _: apply(events.disconnected(self._online)),
            StreamReplacedEv: lambda _: apply(events.stream_replaced()),
            TemporaryBanEv: lambda event: apply(events.temporary_ban(event, time.time())),
            ConnectFailureEv: lambda event: apply(events.connect_failure(event)),
            KeepAliveTimeoutEv: lambda event: apply(events.keepalive_timeout(event, self._online)),
            KeepAliveRestoredEv: lambda _: apply(events.keepalive_restored(self._phone, self._online)),
            ClientOutdatedEv: lambda _: apply(events.client_outdated()),
            MessageEv: lambda event: apply(events.message_received(event)),
        }

    def _guarded(self, handler: Callable[[Any], Awaitable[None]]) -> Callable[[NewAClient, Any], Awaitable[None]]:
        """neonize swallows what its handlers raise: log it instead."""

        async def guarded(_client: NewAClient, event: Any) -> None:
            try:
                await handler(event)
            except Exception:
                log.exception("session %s: handling %s failed", self._config.session_id, type(event).__name__)

        return guarded

    def _connect_task_outcome(self, task: asyncio.Task[None]) -> Outcome:
        """neonize's connect task ended on its own: the connection failed (or ended) for good."""
        error = task.exception()
        message = self._route.redact(str(error)) if error else "neonize ended the connection"
        log.warning("session %s: connection failed: %s", self._config.session_id, message)
        return events.connect_error(message)

    async def _watch_connect(self) -> None:
        """Bound the connect: nothing at all within ``connect_timeout`` means it hangs."""
        seconds = self._options.connect_timeout
        try:
            await asyncio.wait_for(self._started.wait(), seconds)
        except TimeoutError:
            log.error(
                "session %s: no answer within %g s through %s; the worker ends",
                self._config.session_id,
                seconds,
                self._route.redacted,
            )
            await self._apply(events.hung(seconds, self._route.proxied))

    async def _close(self, client: NewAClient, task: asyncio.Task[None]) -> str:
        """Stop neonize (unless it hangs), forget the login if it is void, wait out a ban."""
        reason = self._final or "stopped"
        self._online = False
        if reason != "hung":
            await self._stop_client(client, task, reason)
        self._client = None
        if self._forget_login:
            self._files.delete()
            log.info("session %s: login forgotten (auth data deleted)", self._config.session_id)
        if self._hung:  # its thread stays behind: the session must not go on in this process
            return "hung"
        if self._resume_at is not None and await self._pause_until(self._resume_at):
            return "stopped"
        return reason

    async def _stop_client(self, client: NewAClient, task: asyncio.Task[None], reason: str) -> None:
        """neonize's stop, after calls in flight; if its thread does not end, the process exits hard."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self._options.stop_timeout)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(client.stop(), self._options.stop_timeout)
        await asyncio.wait({task}, timeout=self._options.stop_timeout)
        if task.done():
            if not task.cancelled():
                task.exception()  # retrieved: what it means is known already
            return
        log.error("session %s: neonize did not stop within %g s", self._config.session_id, self._options.stop_timeout)
        self._hung_exit(_exit_code(reason))

    def _hung_exit(self, code: int) -> None:
        """A neonize call hangs: the process ends hard soon, unless it hosts other sessions (then this one
        ends ``hung``, its thread left behind, and its host is drained)."""
        if self._options.hard_exit:
            log.error("the process exits in %g s", self._options.hang_exit_grace)
            exit_hard_later(self._options.hang_exit_grace, code)
        else:
            self._hung = True

    async def _pause_until(self, when: float) -> bool:
        """Sleep until ``when`` (a ban's end); ``True`` if ``stop()`` came first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), max(when - time.time(), 0.0))
        return self._stopping.is_set()

    @staticmethod
    async def _cancel(task: asyncio.Task[Any] | None) -> None:
        if task is not None and task is not asyncio.current_task():
            await cancel_and_wait(task)

    # -- what happens ----------------------------------------------------------------------------

    async def _apply(self, outcome: Outcome) -> None:
        """Take in one event's meaning: state, events to emit, the end of ``run()``."""
        if self._final is not None:
            return
        if outcome.final == "hung":
            self._hung_exit(EXIT_HUNG)
        self._note(outcome)
        for kind, data in outcome.emit:
            await self._emit(kind, data)
        if outcome.final is not None:
            self._end(outcome.final)

    def _note(self, outcome: Outcome) -> None:
        self._phone = outcome.phone or self._phone
        if outcome.online is not None:
            self._online = outcome.online
        if outcome.online:
            self._started.set()
        self._resume_at = outcome.resume_at or self._resume_at
        self._forget_login = self._forget_login or outcome.forget_login

    def _end(self, reason: str) -> None:
        if self._final is None:
            self._final = reason
        self._started.set()
        self._ended.set()

    async def _emit(self, kind: str, data: dict[str, Any]) -> None:
        if self._sink is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sink.emit(kind, data), EMIT_TIMEOUT)

    async def _on_qr(self, payload: bytes) -> None:
        """A new QR code: report it and give it its lifetime (the last one's end ends the QR phase)."""
        if self._final is not None:
            return
        index, self._qr_count = self._qr_count, self._qr_count + 1
        self._started.set()
        self._qr_shown.set()
        await self._emit(*events.qr_code(payload, index, time.time()))
        await self._cancel(self._qr_expiry)
        self._qr_expiry = asyncio.create_task(self._expire_qr(events.qr_ttl(index) + self._options.qr_grace))

    async def _expire_qr(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if self._phone is None:
            await self._apply(events.qr_timeout())

    async def _on_connected(self, _event: Any) -> None:
        if self._final is not None:
            return
        phone = self._phone or events.phone_of(self._client.me if self._client else None)
        if phone is None and self._client is not None:
            phone = events.phone_of(await self._client.get_me())
        if phone is None:
            log.error("session %s: connected, but the account's number is unknown", self._config.session_id)
            return
        await self._apply(events.connected(phone))

    # -- commands --------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _calling(self, *, online: bool = True) -> AsyncIterator[NewAClient]:
        """The client, for one call; ``run()`` stops neonize only after calls in flight (a call
        on a stopped neonize client crashes the process)."""
        client = self._client
        usable = self._online if online else self._phone is None
        if client is None or self._final is not None or not usable:
            if online:
                raise EngineError("NOT_CONNECTED", "not connected to WhatsApp")
            raise EngineError("NOT_IN_QR_PHASE", "pairing codes are only given while waiting to be paired")
        self._calls += 1
        self._idle.clear()
        try:
            yield client
        finally:
            self._calls -= 1
            if not self._calls:
                self._idle.set()

    async def send_text(self, to: str, text: str, message_id: str) -> SendResult:
        """Send a text (no link preview: its fetch would bypass the proxy); ``EngineError`` = outcome unknown."""
        if not PHONE.fullmatch(to):
            return SendResult(ok=False, error="INVALID_PHONE", permanent=True)
        async with self._calling() as client:
            try:
                recipient = await self._recipient(client, to)
            except EngineError as error:
                return SendResult(ok=False, error=error.code)  # nothing was sent
            if recipient is None:
                return events.not_on_whatsapp()
            try:
                response = await _bounded(client.send_message(recipient, Message(conversation=text)), "send")
            except SendMessageError as error:
                return await self._send_failed(message_id, str(error))
        return SendResult(ok=True, wa_id=response.ID)

    async def is_on_whatsapp(self, number: str) -> bool:
        """Whether WhatsApp knows ``number`` (asked once per number while this worker runs)."""
        if not PHONE.fullmatch(number):
            return False
        async with self._calling() as client:
            return await self._recipient(client, number) is not None

    async def _recipient(self, client: NewAClient, number: str) -> pb.JID | None:
        """The JID WhatsApp knows ``number`` by (asked once per number), ``None`` if not on WhatsApp."""
        if number not in self._recipients:
            try:
                responses = await _bounded(client.is_on_whatsapp(number), "number lookup")
            except IsOnWhatsAppError as error:
                raise EngineError("LOOKUP_FAILED", f"could not look {number} up: {error}") from error
            self._recipients[number] = events.recipient(responses)
        return self._recipients[number]

    async def _send_failed(self, message_id: str, error: str) -> SendResult:
        result, restriction = events.send_failure(error)
        log.warning("session %s: send %s failed: %s", self._config.session_id, message_id, error)
        if restriction is not None:
            await self._emit(*restriction)
        return result

    async def typing(self, to: str, seconds: float) -> None:
        """Show "typing..." to ``to`` for about ``seconds``."""
        _check_phone(to)
        async with self._calling() as client:
            jid = await self._recipient(client, to)
        if jid is None:
            return  # not on WhatsApp: nobody to show it to
        await self._chat_presence(jid, ChatPresence.CHAT_PRESENCE_COMPOSING)
        await asyncio.sleep(seconds)
        with contextlib.suppress(EngineError):
            await self._chat_presence(jid, ChatPresence.CHAT_PRESENCE_PAUSED)

    async def _chat_presence(self, jid: pb.JID, state: ChatPresence) -> None:
        async with self._calling() as client:
            try:
                await _bounded(
                    client.send_chat_presence(jid, state, ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT), "typing"
                )
            except SendPresenceError as error:
                raise EngineError("PRESENCE_FAILED", str(error)) from error

    async def pairing_code(self, phone: str) -> str:
        """An 8-character code to enter on the phone instead of scanning (only during the QR phase)."""
        _check_phone(phone)
        with contextlib.suppress(TimeoutError):  # the first QR code, a connection or the end
            await asyncio.wait_for(self._started.wait(), self._options.connect_timeout)
        async with self._calling(online=False) as client:
            if not self._qr_shown.is_set():
                raise EngineError("NOT_IN_QR_PHASE", "no QR code yet: WhatsApp has not offered a login")
            try:
                request = client.PairPhone(phone, True, client_name=ClientName.LINUX, client_type=CLIENT_TYPE)
                return await _bounded(request, "pairing code request")
            except PairPhoneError as error:
                raise EngineError("PAIRING_FAILED", str(error)) from error

    async def logout(self) -> None:
        """Remove this device from the account; ``run()`` then deletes the auth data and returns."""
        async with self._calling() as client:
            try:
                await _bounded(client.logout(), "logout")
            except LogoutError as error:
                raise EngineError("LOGOUT_FAILED", str(error)) from error
        await self._apply(events.logged_out_here())
        try:
            await asyncio.wait_for(self._finished.wait(), REQUEST_TIMEOUT)
        except TimeoutError as error:
            raise EngineError("TIMEOUT", "the worker did not finish the logout in time") from error

    async def stop(self) -> None:
        """Disconnect, keeping the login; ``run()`` returns "stopped"."""
        self._stopping.set()
        self._end("stopped")
