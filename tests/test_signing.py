"""Standard Webhooks signatures and per-worker keys."""

from __future__ import annotations

import time

import pytest

from waorch.errors import SignatureError
from waorch.signing import (
    ID_HEADER,
    MemoryReplayGuard,
    command_key,
    sign,
    sign_reply,
    verify,
    verify_once,
    verify_reply,
    webhook_key,
)


def test_round_trip_and_key_separation() -> None:
    body = b'{"a": 1}'
    key = webhook_key("secret-0123456789", "worker_1")
    assert verify(key, sign(key, body), body)
    assert (
        len(
            {
                key,
                webhook_key("secret-0123456789", "worker_2"),
                command_key("secret-0123456789", "worker_1", 1),
                command_key("secret-0123456789", "worker_1", 2),
                webhook_key("other-secret-0123", "worker_1"),
            }
        )
        == 5
    )


def test_a_reply_verifies_only_for_its_own_request_and_never_as_the_command_itself() -> None:
    key = command_key("secret-0123456789", "worker_1", 3)
    command = b'{"command": "send", "messageId": "m1"}'
    request = sign(key, command)
    answer = b'{"ok": true, "state": "sent"}'
    verify_reply(key, request[ID_HEADER], sign_reply(key, request[ID_HEADER], answer), answer)
    with pytest.raises(SignatureError):  # an answer to another request, replayed
        verify_reply(key, request[ID_HEADER], sign_reply(key, "msg_other", answer), answer)
    with pytest.raises(SignatureError):  # the command sent back as its own answer
        verify_reply(key, request[ID_HEADER], request, command)
    with pytest.raises(SignatureError):  # signed by the previous generation's worker
        verify_reply(
            key,
            request[ID_HEADER],
            sign_reply(command_key("secret-0123456789", "worker_1", 2), request[ID_HEADER], answer),
            answer,
        )
    with pytest.raises(SignatureError):
        verify("", sign("", answer), answer)  # no key, no proof


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
