"""Acting on a core that runs on its own event loop in a thread of this process (the control room's)."""

from __future__ import annotations

from typing import Any

from waorch.control.local import LocalControl
from waorch.service import CoreThread


class ThreadControl:
    """``Control`` over the core of a ``CoreThread``: each action runs on the core's loop."""

    def __init__(self, thread: CoreThread) -> None:
        if thread.service is None:
            raise ValueError("the core thread is not running")
        self._thread = thread
        self._local = LocalControl(thread.service.core)

    async def provision(self, phone: str | None, proxy: str | None) -> str:
        """Create a session and queue its worker's start; returns its id."""
        return await self._thread.run(self._local.provision(phone, proxy))

    async def restart(self, session_id: str) -> None:
        """Restart a session's worker."""
        await self._thread.run(self._local.restart(session_id))

    async def delete(self, session_id: str) -> None:
        """Stop a session's worker and delete the session."""
        await self._thread.run(self._local.delete(session_id))

    async def logout(self, session_id: str) -> None:
        """Log a session out of WhatsApp."""
        await self._thread.run(self._local.logout(session_id))

    async def pairing_code(self, session_id: str, phone: str) -> str:
        """A code to type on ``phone`` to link it without scanning."""
        return await self._thread.run(self._local.pairing_code(session_id, phone))

    async def set_paused(self, session_id: str, paused: bool) -> dict[str, Any]:
        """Pause or resume a session's sending; returns its queue view."""
        return await self._thread.run(self._local.set_paused(session_id, paused))

    async def send(self, session_id: str | None, to: str, text: str) -> dict[str, Any]:
        """Queue a message through the same checks as ``POST /api/v1/send``."""
        return await self._thread.run(self._local.send(session_id, to, text))

    async def add_proxy(self, url: str) -> dict[str, Any]:
        """Add a proxy to the pool; returns it (password redacted)."""
        return await self._thread.run(self._local.add_proxy(url))

    async def remove_proxy(self, proxy_id: str) -> None:
        """Remove a proxy that carries no session."""
        await self._thread.run(self._local.remove_proxy(proxy_id))

    async def replace_tiers(self, tiers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Validate and save the trust-tier table; effective at once."""
        return await self._thread.run(self._local.replace_tiers(tiers))

    async def pin_tier(self, session_id: str, name: str | None) -> None:
        """Pin a session to a tier (``None``: back to its age's tier)."""
        await self._thread.run(self._local.pin_tier(session_id, name))
