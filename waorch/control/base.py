"""The actions a control room (or any client) can take on the fleet, whichever core runs it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from waorch.core.backups import BackupInfo, RestoreResult
from waorch.core.proxy_pool import ProxyInfo
from waorch.core.tiers import Tier


@dataclass(frozen=True)
class Queued:
    """A message accepted for sending: its id and the session whose queue holds it."""

    message_id: str
    session_id: str


class Control(Protocol):
    """Every change to the fleet goes through one of these; reads come from Redis directly.

    ``LocalControl`` calls the core running in this process; ``RemoteControl`` calls the active
    core's REST API when this process is attached to another one. Failures raise the same
    ``WaorchError`` classes, with the same codes, either way.
    """

    async def provision(self, phone: str | None, proxy: str | None) -> str:
        """Create a session and queue its worker's start; returns its id."""
        ...

    async def restart(self, session_id: str) -> None:
        """Restart a session's worker."""
        ...

    async def delete(self, session_id: str) -> None:
        """Stop a session's worker and delete the session."""
        ...

    async def logout(self, session_id: str) -> None:
        """Log a session out of WhatsApp."""
        ...

    async def pairing_code(self, session_id: str, phone: str) -> str:
        """A code to type on ``phone`` to link it without scanning."""
        ...

    async def set_paused(self, session_id: str, paused: bool) -> None:
        """Pause or resume a session's sending."""
        ...

    async def send(self, session_id: str | None, to: str, text: str) -> Queued:
        """Queue a message (``None``: distributed) through the checks of ``POST /api/v1/send``."""
        ...

    async def add_proxy(self, url: str) -> ProxyInfo:
        """Add a proxy to the pool; returns it (password redacted)."""
        ...

    async def remove_proxy(self, proxy_id: str) -> None:
        """Remove a proxy that carries no session."""
        ...

    async def replace_tiers(self, tiers: Sequence[Tier]) -> tuple[Tier, ...]:
        """Validate and save the trust-tier table; effective at once."""
        ...

    async def pin_tier(self, session_id: str, name: str | None) -> None:
        """Pin a session to a tier (``None``: back to its age's tier)."""
        ...

    async def backups(self) -> list[BackupInfo]:
        """The archives in the active core's ``BACKUPS_DIR``, newest first."""
        ...

    async def take_backup(self) -> BackupInfo:
        """A backup now, by the active core."""
        ...

    async def restore_backup(self, name: str, replace: bool) -> RestoreResult:
        """Restore a backup (``FLEET_NOT_EMPTY`` over sessions unless ``replace``)."""
        ...
