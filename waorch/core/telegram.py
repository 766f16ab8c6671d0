"""Alerts to a Telegram chat through the Bot API (``sendMessage`` with httpx), never in the core's way.

One loop on the active core, like the event forwarder: raising an alert only writes to Redis
(``core/alerts.py``); this loop reads the queue, waits ``window`` seconds after the oldest waiting
alert so that a burst (a proxy dying with its sessions, ten sessions failing at once) goes in one
message, and sends at most one message every ``interval`` seconds (Telegram allows about one a
second per chat). A 429 is honoured: no call before its ``parameters.retry_after``. A 5xx or a
network error backs off (1 s doubling to 5 min) and the alerts stay queued, across restarts too;
any other refusal (a wrong token or chat) marks that message's alerts ``failed``.

The bot token is part of the API's URL: it is never logged (httpx's request log is redacted here)
and never part of an error kept or shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import redis.asyncio as aioredis

from waorch.config import Settings
from waorch.core.alerts import FAILED, SENT, AlertStore, Batch
from waorch.core.forwarder import RetryPolicy
from waorch.shorten import shorten

log = logging.getLogger("waorch.telegram")

MAX_LINES = 30  # alerts per message
MAX_CHARS = 3500  # characters per message (Telegram's limit is 4096)
BACKOFF = RetryPolicy()  # after a 5xx or a network error: 1 s doubling to 5 min (alerts are never given up)


class TokenFilter(logging.Filter):
    """Writes the bot token as ``***`` in every record of the logger it is added to (httpx logs each URL)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record, its message without the token."""
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "***"), ()
        return True


@dataclass(frozen=True)
class Answer:
    """What Telegram said to one ``sendMessage``: ``status`` ``None`` when it could not be reached."""

    status: int | None
    error: str = ""
    retry_after: float = 0.0

    @property
    def sent(self) -> bool:
        """Delivered to the chat."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def transient(self) -> bool:
        """Worth trying again later (unreachable, rate-limited or a server error)."""
        return self.status is None or self.status == 429 or self.status >= 500


class TelegramSender:
    """Sends the alert queue to one chat; ``run_forever`` is the background loop."""

    def __init__(
        self,
        store: AlertStore,
        api_url: str,
        token: str,
        chat_id: str,
        policy: RetryPolicy = BACKOFF,
        *,
        timeout: float = 10.0,
        window: float = 2.0,
        interval: float = 1.0,
        poll: float = 0.25,
    ) -> None:
        self.store = store
        self.url = f"{api_url.rstrip('/')}/bot{token}/sendMessage"
        self.token = token
        self.chat_id = chat_id
        self.policy = policy
        self.timeout = timeout
        self.window = window
        self.interval = interval
        self.poll = poll
        self.failures = 0  # transient failures in a row (the backoff)
        _redact_http_log(token)

    @classmethod
    def configured(cls, settings: Settings, store: AlertStore) -> TelegramSender | None:
        """The sender ``settings`` ask for, or ``None`` (said once, in the log) without a token and a chat."""
        token, chat_id = settings.telegram_bot_token, settings.telegram_chat_id
        if not token or not chat_id:
            log.info(
                "alerts are off: TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are not both set "
                "(alerts still show in the log pane and GET /api/alerts)"
            )
            return None
        log.info("alerts go to Telegram chat %s", chat_id)
        return cls(store, settings.telegram_api_url, token, chat_id)

    async def run_forever(self, stopping: asyncio.Event) -> None:
        """Send waiting alerts until ``stopping`` is set (or cancelled); unsent ones stay queued."""
        async with httpx.AsyncClient(timeout=self.timeout, trust_env=False) as http:
            while not stopping.is_set():
                wait = await self._step(http)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), wait)

    async def _step(self, http: httpx.AsyncClient) -> float:
        """Send the next message if one is due; the real seconds to wait before the next step."""
        try:
            await self.store.release_cooled()
            batch = await self.store.batch(MAX_LINES, MAX_CHARS)
        except (aioredis.RedisError, OSError) as error:
            log.warning("alert queue unavailable, trying again in 1 s: %s", error)
            return 1.0
        if not batch:
            return self.poll
        gathering = self._gathering(batch)
        return gathering if gathering > 0 else await self._send(http, batch)

    def _gathering(self, batch: Batch) -> float:
        """Real seconds to wait for more alerts to join the oldest one's message."""
        if not batch.alerts:
            return 0.0
        clock = self.store.clock
        return self.window - clock.real_seconds(clock.now() - batch.alerts[0].at)

    async def _send(self, http: httpx.AsyncClient, batch: Batch) -> float:
        answer = await self._post(http, batch.text)
        if answer.transient:
            return self._wait_after(answer)
        self.failures = 0
        if not answer.sent:
            log.warning("Telegram refused an alert message (%s): %s", answer.status, answer.error)
        try:
            await self.store.settle(batch, SENT if answer.sent else FAILED, answer.error)
        except (aioredis.RedisError, OSError) as error:
            log.warning("alert delivery not recorded (they may be sent again): %s", error)
        return self.interval

    def _wait_after(self, answer: Answer) -> float:
        """How long to wait after a transient failure: Telegram's ``retry_after``, else the backoff."""
        if answer.status == 429:
            log.warning("Telegram asks to wait %.0f s before the next alert message", answer.retry_after)
            return max(answer.retry_after, self.interval)
        self.failures += 1
        delay = self.policy.delay(self.failures)
        log.warning("Telegram unreachable (%s); alerts kept, trying again in %.0f s", answer.error, delay)
        return delay

    async def _post(self, http: httpx.AsyncClient, text: str) -> Answer:
        """One ``sendMessage``."""
        body = {"chat_id": self.chat_id, "text": text, "disable_web_page_preview": True}
        try:
            response = await http.post(self.url, json=body)
        except httpx.HTTPError as error:
            return Answer(None, self._scrubbed(f"{type(error).__name__}: {error}".rstrip(": ")))
        return _answer(response, self._scrubbed)

    def _scrubbed(self, text: str) -> str:
        return shorten(text.replace(self.token, "***"), 200)


def _answer(response: httpx.Response, scrub: Callable[[str], str]) -> Answer:
    """Telegram's answer: ``{ok, description, parameters: {retry_after}}``."""
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    payload = payload if isinstance(payload, dict) else {}
    parameters = payload.get("parameters")
    retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
    if not isinstance(retry_after, (int, float)):
        retry_after = _header_seconds(response.headers.get("retry-after"))
    description = str(payload.get("description") or f"HTTP {response.status_code}")
    return Answer(response.status_code, "" if response.is_success else scrub(description), float(retry_after))


def _header_seconds(value: str | None) -> float:
    try:
        return float(value) if value else 1.0
    except ValueError:
        return 1.0


def _redact_http_log(token: str) -> None:
    """httpx logs every request's URL at INFO: the token is written as ``***`` there."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, TokenFilter) and f.token == token for f in logger.filters):
        logger.addFilter(TokenFilter(token))
