"""Acting on the active core of another process through its REST API (attach mode)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx

from waorch.api.backups import backup_from_json, restore_from_json
from waorch.api.proxies import proxy_from_json
from waorch.api.statuses import error_from
from waorch.api.tiers import tier_json, tiers_from_json
from waorch.control.base import Queued
from waorch.core.backups import BackupInfo, RestoreResult
from waorch.core.proxy_pool import ProxyInfo
from waorch.core.tiers import Tier
from waorch.errors import CoreUnreachable, InsecureCoreUrl
from waorch.loopback import may_carry_secrets

TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class RemoteControl:
    """``Control`` over the REST API of the core that holds the lease (the same error classes as local calls).

    The address comes from the lease in Redis: the API key goes there only over https or to this
    machine; to any other address nothing is sent and every action is ``INSECURE_CORE_URL``.
    """

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._refusal = (
            None
            if may_carry_secrets(self.base_url)
            else (
                f"the active core's API is at {self.base_url}, neither on this machine nor https: "
                "this control room does not send it the API_KEY in clear text"
            )
        )
        headers = {"X-API-Key": api_key} if self._refusal is None else {}
        self._http = httpx.AsyncClient(headers=headers, timeout=TIMEOUT, trust_env=False)

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, session_id: str | None = None
    ) -> dict[str, Any]:
        if self._refusal is not None:
            raise InsecureCoreUrl(self._refusal, session_id=session_id)
        try:
            response = await self._http.request(method, self.base_url + path, json=body)
            answer = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise CoreUnreachable(
                f"the active core at {self.base_url} did not answer ({error.__class__.__name__})", session_id=session_id
            ) from None
        if response.status_code >= 400:
            raise error_from(response.status_code, answer, session_id)
        return answer if isinstance(answer, dict) else {}

    async def verify(self) -> None:
        """Check that the active core answers and accepts our API key (``UNAUTHORIZED`` if not)."""
        await self._call("GET", "/api/trust-tiers")

    async def provision(self, phone: str | None, proxy: str | None) -> str:
        """Create a session and queue its worker's start; returns its id."""
        body = {key: value for key, value in (("phone", phone), ("proxy", proxy)) if value}
        return str((await self._call("POST", "/api/sessions/provision", body))["sessionId"])

    async def restart(self, session_id: str) -> None:
        """Restart a session's worker."""
        await self._call("POST", f"/api/sessions/{session_id}/restart", session_id=session_id)

    async def delete(self, session_id: str) -> None:
        """Stop a session's worker and delete the session."""
        await self._call("DELETE", f"/api/sessions/{session_id}", session_id=session_id)

    async def logout(self, session_id: str) -> None:
        """Log a session out of WhatsApp."""
        await self._call("POST", f"/api/sessions/{session_id}/logout", session_id=session_id)

    async def pairing_code(self, session_id: str, phone: str) -> str:
        """A code to type on ``phone`` to link it without scanning."""
        answer = await self._call("POST", f"/api/sessions/{session_id}/pairing-code", {"phone": phone}, session_id)
        return str(answer["code"])

    async def set_paused(self, session_id: str, paused: bool) -> None:
        """Pause or resume a session's sending."""
        verb = "pause" if paused else "resume"
        await self._call("POST", f"/api/sessions/{session_id}/queue/{verb}", session_id=session_id)

    async def send(self, session_id: str | None, to: str, text: str) -> Queued:
        """Queue a message through ``POST /api/v1/send``."""
        body: dict[str, Any] = {"to": to, "message": text}
        if session_id:
            body["sessionId"] = session_id
        answer = await self._call("POST", "/api/v1/send", body, session_id)
        return Queued(str(answer["messageId"]), str(answer["sessionId"]))

    async def add_proxy(self, url: str) -> ProxyInfo:
        """Add a proxy to the pool; returns it (password redacted)."""
        return proxy_from_json(await self._call("POST", "/api/proxies", {"url": url}))

    async def remove_proxy(self, proxy_id: str) -> None:
        """Remove a proxy that carries no session."""
        await self._call("DELETE", f"/api/proxies/{proxy_id}")

    async def replace_tiers(self, tiers: Sequence[Tier]) -> tuple[Tier, ...]:
        """Validate and save the trust-tier table; effective at once."""
        return tiers_from_json(
            await self._call("PUT", "/api/trust-tiers", {"tiers": [tier_json(tier) for tier in tiers]})
        )

    async def pin_tier(self, session_id: str, name: str | None) -> None:
        """Pin a session to a tier (``None``: back to its age's tier)."""
        await self._call("PUT", f"/api/sessions/{session_id}/tier", {"tier": name}, session_id)

    async def backups(self) -> list[BackupInfo]:
        """The archives in the active core's ``BACKUPS_DIR``, newest first."""
        return [backup_from_json(body) for body in (await self._call("GET", "/api/backups"))["backups"]]

    async def take_backup(self) -> BackupInfo:
        """A backup now, by the active core."""
        return backup_from_json(await self._call("POST", "/api/backups"))

    async def restore_backup(self, name: str, replace: bool) -> RestoreResult:
        """Restore a backup (``FLEET_NOT_EMPTY`` over sessions unless ``replace``)."""
        path = f"/api/backups/{quote(name, safe='')}/restore"
        return restore_from_json(await self._call("POST", path, {"replace": replace}))
