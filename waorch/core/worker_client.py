"""The orchestrator's side of the command channel: signed requests to a worker's endpoint, and
only answers the worker signed for them trusted."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import SplitResult, urlsplit

import httpx

from waorch.core.sessions import Session
from waorch.errors import SignatureError, WorkerRefused, WorkerUnreachable
from waorch.loopback import is_loopback_host
from waorch.signing import ID_HEADER, command_key, sign, verify_reply


def command_address(url: object, worker_host: str | None = None) -> str | None:
    """``url`` if the core may send a worker's commands there, else ``None``.

    The one place that decides where commands (recipients, texts) may go: ``http://<host>:<port>`` where the
    host is a loopback address (process workers, containers on host networking) or ``worker_host``, the one
    name that session's worker has on a container network (``Settings.worker_host``)."""
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    allowed = is_loopback_host(parts.hostname) or (worker_host is not None and parts.hostname == worker_host)
    return url.rstrip("/") if port and _bare_http(parts) and allowed else None


def _bare_http(parts: SplitResult) -> bool:
    """``http://host:port`` and nothing else (no credentials, path, query or fragment)."""
    return (
        parts.scheme == "http"
        and "@" not in parts.netloc
        and parts.path in ("", "/")
        and not parts.query
        and not parts.fragment
    )


class WorkerClient:
    """Sends commands (``stop``, ``logout``, ``send``, ...) to workers, signed per worker generation."""

    def __init__(self, webhook_secret: str, worker_host: Callable[[str], str | None], timeout: float = 30.0) -> None:
        self._secret = webhook_secret
        self._worker_host = worker_host
        self._http = httpx.AsyncClient(timeout=timeout, trust_env=False)

    async def command(
        self, session: Session, name: str, *, timeout: float | None = None, **arguments: Any
    ) -> dict[str, Any]:
        """Deliver one command to the session's worker and return its answer (``WORKER_UNREACHABLE``
        if it cannot be delivered or the answer is not that worker's own for this command)."""
        url = command_address(session.command_url, self._worker_host(session.id))
        if url is None:
            raise WorkerUnreachable("the worker has not reported its command address yet", session_id=session.id)
        key = command_key(self._secret, session.id, session.generation)
        body = json.dumps({"command": name, **arguments}).encode()
        signed = sign(key, body)
        try:
            response = await self._http.post(
                f"{url}/command",
                content=body,
                headers={"content-type": "application/json", **signed},
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.HTTPError as error:
            raise WorkerUnreachable(f"worker did not answer: {type(error).__name__}", session_id=session.id) from None
        return _outcome(session.id, response, _verified(session.id, key, signed[ID_HEADER], response))

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()


def _verified(session_id: str, key: str, request_id: str, response: httpx.Response) -> dict[str, Any]:
    """The answer, if the worker signed it for this request; anything else is no answer at all
    (whoever else listens on its address cannot report a message as sent)."""
    try:
        verify_reply(key, request_id, response.headers, response.content)
        answer = json.loads(response.content)
    except (SignatureError, ValueError) as error:
        problem = error.message if isinstance(error, SignatureError) else "not JSON"
        raise WorkerUnreachable(
            f"the answer (HTTP {response.status_code}) is not the worker's: {problem}", session_id=session_id
        ) from None
    if not isinstance(answer, dict):
        raise WorkerUnreachable("the worker's answer is not a JSON object", session_id=session_id)
    return answer


def _outcome(session_id: str, response: httpx.Response, answer: dict[str, Any]) -> dict[str, Any]:
    if response.status_code == 409:
        raise WorkerRefused(
            answer.get("message", "the worker refused"),
            session_id=session_id,
            code=answer.get("error", "WORKER_REFUSED"),
        )
    if response.status_code >= 400:
        message = answer.get("message", f"worker answered HTTP {response.status_code}")
        raise WorkerUnreachable(message, session_id=session_id, code=answer.get("error", "WORKER_ERROR"))
    return answer
