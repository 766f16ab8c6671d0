"""Acting on a core that runs in this process, on this loop or on its own loop in a thread."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from waorch.core.intake import parse_send
from waorch.core.orchestrator import Core

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], Awaitable[T]]


async def _here(coroutine: Coroutine[Any, Any, T]) -> T:
    return await coroutine


class LocalControl:
    """``Control`` over a ``Core`` in this process.

    ``run`` is where the core's coroutines execute: here by default, or on the core's own loop
    (``CoreThread.run``, how the control room hosts its core).
    """

    def __init__(self, core: Core, run: Run[Any] = _here) -> None:
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

    async def set_paused(self, session_id: str, paused: bool) -> dict[str, Any]:
        """Pause or resume a session's sending; returns its queue view."""
        return await self._run(self.core.set_paused(session_id, paused))

    async def send(self, session_id: str | None, to: str, text: str) -> dict[str, Any]:
        """Queue a message through the same checks as ``POST /api/v1/send``."""
        body: dict[str, Any] = {"to": to, "message": text}
        if session_id:
            body["sessionId"] = session_id
        request = parse_send(body, self.core.settings.default_region, self.core.clock.now())
        message = await self._run(self.core.intake.accept(request))
        return {"messageId": message.id, "sessionId": message.session, "status": "queued"}

    async def add_proxy(self, url: str) -> dict[str, Any]:
        """Add a proxy to the pool; returns it (password redacted)."""
        return (await self._run(self.core.add_proxy(url))).to_dict()

    async def remove_proxy(self, proxy_id: str) -> None:
        """Remove a proxy that carries no session."""
        await self._run(self.core.pool.remove(proxy_id))

    async def replace_tiers(self, tiers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Validate and save the trust-tier table; effective at once."""
        return [tier.to_dict() for tier in await self._run(self.core.replace_tiers({"tiers": tiers}))]

    async def pin_tier(self, session_id: str, name: str | None) -> None:
        """Pin a session to a tier (``None``: back to its age's tier)."""
        await self._run(self.core.pin_tier(session_id, name))
