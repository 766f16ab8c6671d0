"""The orchestrator's side of the command channel: signed requests to a worker's endpoint."""

from __future__ import annotations

import json
from typing import Any

import httpx

from waorch.errors import WorkerRefused, WorkerUnreachable
from waorch.signing import command_key, sign


class WorkerClient:
    """Sends commands (``stop``, ``logout``, ``send``, ...) to workers, signed per worker."""

    def __init__(self, webhook_secret: str, timeout: float = 30.0) -> None:
        self._secret = webhook_secret
        self._http = httpx.AsyncClient(timeout=timeout, trust_env=False)

    async def command(self, session_id: str, command_url: str, name: str, *, timeout: float | None = None,
                      **arguments: Any) -> dict[str, Any]:
        """Deliver one command and return the worker's JSON answer (``WORKER_UNREACHABLE`` on failure)."""
        if not command_url:
            raise WorkerUnreachable("the worker has not reported its command address yet", session_id=session_id)
        body = json.dumps({"command": name, **arguments}).encode()
        headers = {"content-type": "application/json", **sign(command_key(self._secret, session_id), body)}
        try:
            response = await self._http.post(f"{command_url}/command", content=body, headers=headers,
                                             timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as error:
            raise WorkerUnreachable(f"worker did not answer: {type(error).__name__}", session_id=session_id) from None
        answer = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        if response.status_code == 409:
            raise WorkerRefused(answer.get("message", "the worker refused"), session_id=session_id,
                                code=answer.get("error", "WORKER_REFUSED"))
        if response.status_code >= 400:
            message = answer.get("message", f"worker answered HTTP {response.status_code}")
            raise WorkerUnreachable(message, session_id=session_id, code=answer.get("error", "WORKER_ERROR"))
        return answer

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()
