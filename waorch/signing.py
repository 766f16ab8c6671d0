"""Standard Webhooks signatures, per-worker keys and replay protection.

A signed request carries ``webhook-id``, ``webhook-timestamp`` (unix seconds) and
``webhook-signature: v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>``. Each worker gets keys
derived from ``WEBHOOK_SECRET`` and its session id, one for the events it sends and one for the
commands it accepts, so a leaked worker can speak neither for another worker nor for the core.
The command key is also per worker generation (a command captured for one worker process is
refused by the next), and the worker signs each answer with a key derived from it, bound to the
request's id, so nobody else on the worker's address can answer for it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Protocol

from waorch.errors import SignatureError

TOLERANCE_S = 300
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SESSION_HEADER = "x-waorch-session"
# What a worker's PING says it speaks: its generation's command key, signed answers. A worker an
# older waorch started (still running after an upgrade) says nothing and is restarted.
CHANNEL_VERSION = 2


def derive_key(secret: str, purpose: str, session_id: str) -> str:
    """The hex key of one worker for one purpose (``webhook`` or ``command``)."""
    message = f"{purpose}:{session_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def webhook_key(secret: str, session_id: str) -> str:
    """Key a worker signs its events with."""
    return derive_key(secret, "webhook", session_id)


def command_key(secret: str, session_id: str, generation: int) -> str:
    """Key the core signs commands to one generation of a session's worker with."""
    return derive_key(secret, "command", f"{session_id}:{generation}")


def reply_key(command_key: str) -> str:
    """Key a worker signs its answers with: not its command key, so a command sent back as its
    own answer does not verify."""
    return hmac.new(command_key.encode(), b"reply", hashlib.sha256).hexdigest()


def sign_reply(command_key: str, request_id: str, body: bytes) -> dict[str, str]:
    """Headers that sign a worker's answer to the command whose ``webhook-id`` is ``request_id``."""
    return sign(reply_key(command_key), body, msg_id=request_id)


def verify_reply(command_key: str, request_id: str, headers: Mapping[str, str], body: bytes) -> None:
    """Check a worker's answer: signed with its reply key, fresh, and for this very request."""
    if verify(reply_key(command_key), headers, body) != request_id:
        raise SignatureError("the answer is for another request")


def proxy_id_key(secret: str) -> str:
    """Key of the proxy pool's ids (``ProxyPool.id_of``): without it an id cannot be checked
    against guessed passwords."""
    return derive_key(secret, "proxy-id", "pool")


def _mac(key: str, msg_id: str, timestamp: str, body: bytes) -> str:
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    digest = hmac.new(key.encode(), signed, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sign(key: str, body: bytes, *, now: float | None = None, msg_id: str | None = None) -> dict[str, str]:
    """Headers that sign ``body`` with ``key``."""
    msg_id = msg_id or f"msg_{secrets.token_hex(12)}"
    timestamp = str(int(time.time() if now is None else now))
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: f"v1,{_mac(key, msg_id, timestamp, body)}",
    }


def verify(key: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> str:
    """Check signature and freshness; return the message id (raise ``SignatureError``)."""
    msg_id = headers.get(ID_HEADER, "")
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    signature = headers.get(SIGNATURE_HEADER, "")
    if not key:  # a MAC with an empty key proves nothing
        raise SignatureError("no key to verify with")
    if not (msg_id and timestamp and signature):
        raise SignatureError("missing signature headers")
    if not (msg_id + timestamp + signature).isascii():  # what we sign and compare is ASCII; other bytes cannot match
        raise SignatureError("signature headers must be ASCII")
    try:
        sent = int(timestamp)
    except ValueError:
        raise SignatureError("bad signature timestamp") from None
    if abs((time.time() if now is None else now) - sent) > TOLERANCE_S:
        raise SignatureError("stale signature timestamp")
    expected = _mac(key, msg_id, timestamp, body)
    offered = [part.partition(",")[2] for part in signature.split() if part.startswith("v1,")]
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise SignatureError("signature does not match")
    return msg_id


class ReplayGuard(Protocol):
    """Remembers message ids for at least the signature tolerance."""

    async def first_time(self, msg_id: str) -> bool:
        """True the first time ``msg_id`` is seen, False for a replay."""
        ...


class MemoryReplayGuard:
    """A replay guard for one process (used by workers for commands)."""

    def __init__(self, ttl: float = 2 * TOLERANCE_S) -> None:
        self._ttl = ttl
        self._seen: dict[str, float] = {}

    async def first_time(self, msg_id: str) -> bool:
        """See ``ReplayGuard``."""
        now = time.monotonic()
        if len(self._seen) > 10_000:
            self._seen = {k: t for k, t in self._seen.items() if now - t < self._ttl}
        if msg_id in self._seen and now - self._seen[msg_id] < self._ttl:
            return False
        self._seen[msg_id] = now
        return True


async def verify_once(key: str, headers: Mapping[str, str], body: bytes, guard: ReplayGuard) -> str:
    """Verify a signed request and refuse it if its id was already seen."""
    msg_id = verify(key, headers, body)
    if not await guard.first_time(msg_id):
        raise SignatureError("replayed message id")
    return msg_id
