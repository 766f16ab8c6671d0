"""Standard Webhooks signatures and per-worker keys."""

from __future__ import annotations

import time

import pytest

from waorch.errors import SignatureError
from waorch.signing import MemoryReplayGuard, command_key, sign, verify, verify_once, webhook_key


def test_round_trip_and_key_separation() -> None:
    body = b'{"a": 1}'
    key = webhook_key("secret-0123456789", "worker_1")
    assert verify(key, sign(key, body), body)
    assert len({key, webhook_key("secret-0123456789", "worker_2"), command_key("secret-0123456789", "worker_1"),
                webhook_key("other-secret-0123", "worker_1")}) == 4


@pytest.mark.parametrize("tamper", ["body", "key", "id", "timestamp", "old", "future", "missing", "scheme"])
def test_anything_changed_fails(tamper: str) -> None:
    body, key = b"payload", "k1"
    headers = sign(key, body)
    if tamper == "body":
        body = b"payload!"
    elif tamper == "key":
        key = "k2"
    elif tamper == "id":
        headers["webhook-id"] = "msg_other"
    elif tamper == "timestamp":
        headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) + 1)
    elif tamper == "old":
        headers = sign(key, body, now=time.time() - 301)
    elif tamper == "future":
        headers = sign(key, body, now=time.time() + 301)
    elif tamper == "missing":
        del headers["webhook-signature"]
    elif tamper == "scheme":
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")
    with pytest.raises(SignatureError):
        verify(key, headers, body)


async def test_replay_guard() -> None:
    guard, body = MemoryReplayGuard(), b"x"
    headers = sign("k", body)
    await verify_once("k", headers, body, guard)
    with pytest.raises(SignatureError, match="replayed"):
        await verify_once("k", headers, body, guard)
