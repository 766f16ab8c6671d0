"""The engine seam: what a worker needs from a WhatsApp client library.

Two engines sit behind it: ``neonize`` (the real WhatsApp Web client) and ``sim`` (which talks
to ``waorch sim``). An engine turns what happens on its connection into events through an
``EventSink``; the worker signs them and posts them to the orchestrator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class EventSink(Protocol):
    """Where an engine reports what happens (``QR_CODE``, ``CONNECTED``, ...)."""

    async def emit(self, type: str, data: dict[str, Any]) -> None:
        """Report one event; never raises."""
        ...


@dataclass(frozen=True)
class EngineConfig:
    """What an engine is given to run one session."""

    session_id: str
    auth_dir: Path
    proxy_url: str | None
    sim_url: str | None = None
    device_name: str = "waorch"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    """Outcome of one send: ``ok`` with WhatsApp's message id, or an error code and whether to retry."""

    ok: bool
    wa_id: str | None = None
    error: str | None = None
    permanent: bool = False


class EngineError(Exception):
    """An engine operation failed (not connected, unsupported, refused)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Engine(Protocol):
    """One WhatsApp account's connection."""

    async def run(self, sink: EventSink) -> str:
        """Connect (through the proxy), log in by QR or stored auth, and stay connected.

        Returns (after ``stop()`` or a final condition such as logout, QR timeout or a proxy
        that cannot be reached) a short reason the worker logs before it exits.
        """
        ...

    async def send_text(self, to: str, text: str, message_id: str) -> SendResult:
        """Send a text to an E.164 number (digits, no ``+``)."""
        ...

    async def typing(self, to: str, seconds: float) -> None:
        """Show "typing..." to ``to`` for about ``seconds``."""
        ...

    async def is_on_whatsapp(self, number: str) -> bool:
        """Whether an E.164 number (digits, no ``+``) has a WhatsApp account (``EngineError``: no answer)."""
        ...

    async def pairing_code(self, phone: str) -> str:
        """Ask for an 8-character pairing code for ``phone`` (login without scanning)."""
        ...

    async def logout(self) -> None:
        """Log out: the device is removed from the account and the auth data is void."""
        ...

    async def stop(self) -> None:
        """Disconnect cleanly, keeping the login for the next start."""
        ...
