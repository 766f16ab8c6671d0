"""Acting on a core that runs in this process, on this loop or on its own loop in a thread."""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine, Sequence
from typing import Any, Protocol, TypeVar

from waorch.control.base import Queued
from waorch.core.backups import BackupInfo, RestoreResult
from waorch.core.core import Core
from waorch.core.intake import parse_send
from waorch.core.proxy_pool import ProxyInfo
from waorch.core.tiers import Tier

T = TypeVar("T")


class Run(Protocol):
    """Where the core's coroutines execute; the result comes back to the caller."""

    def __call__(self, coroutine: Coroutine[Any, Any, T], /) -> Awaitable[T]: ...


async def _here(coroutine: Coroutine[Any, Any, T]) -> T:
    return await coroutine


class LocalControl:
    """``Control`` over a ``Core`` in this process: its typed methods, called directly.

    ``run`` is where the core's coroutines execute: here by default, or on the core's own loop
    (``CoreThread.run``, how the control room hosts its core).
    """

    def __init__(self, core: Core, run: Run = _here) -> None:
        self.core = core
        self._run = run

    async def provision(self, phone: str | None, proxy: str | None) -> str:
        """Create a session and queue its worker's start; returns its id."""
        return (await self._run(self.core.provision(phone or None, proxy or None))).id

    async def restart(self, session_id: str) -> None:
        """Restart a session's worker."""
        await self._run(self.core.restart(session_id))

    async def delete(self, session_id: str) -> None:
        """Stop a session's worker and delete the session."""
        await self._run(self.core.delete(session_id))

    async def logout(self, session_id: str) -> None:
        """Log a session out of WhatsApp."""
        await self._run(self.core.logout(session_id))

    async def pairing_code(self, session_id: str, phone: str) -> str:
        """A code to type on ``phone`` to link it without scanning."""
        return await self._run(self.core.pairing_code(session_id, phone))

    async def set_paused(self, session_id: str, paused: bool) -> None:
        """Pause or resume a session's sending."""
        await self._run(self.core.set_paused(session_id, paused))

    async def send(self, session_id: str | None, to: str, text: str) -> Queued:
        """Queue a message through the same checks as ``POST /api/v1/send``."""
        sending = parse_send(
            to, text, session_id or None, region=self.core.settings.default_region, now=self.core.clock.now()
        )
        message = await self._run(self.core.intake.accept(sending))
        return Queued(message.id, message.session)

    async def add_proxy(self, url: str) -> ProxyInfo:
        """Add a proxy to the pool; returns it (password redacted)."""
        return await self._run(self.core.add_proxy(url))

    async def remove_proxy(self, proxy_id: str) -> None:
        """Remove a proxy that carries no session."""
        await self._run(self.core.pool.remove(proxy_id))

    async def replace_tiers(self, tiers: Sequence[Tier]) -> tuple[Tier, ...]:
        """Validate and save the trust-tier table; effective at once."""
        return await self._run(self.core.replace_tiers(tiers))

    async def pin_tier(self, session_id: str, name: str | None) -> None:
        """Pin a session to a tier (``None``: back to its age's tier)."""
        await self._run(self.core.pin_tier(session_id, name))

    async def backups(self) -> list[BackupInfo]:
        """The archives in ``BACKUPS_DIR``, newest first."""
        return await self._run(self.core.backups.archives())

    async def take_backup(self) -> BackupInfo:
        """A backup now."""
        return await self._run(self.core.backups.take())

    async def restore_backup(self, name: str, replace: bool) -> RestoreResult:
        """Restore a backup (``FLEET_NOT_EMPTY`` over sessions unless ``replace``)."""
        return await self._run(self.core.backups.restore(name, replace=replace))
