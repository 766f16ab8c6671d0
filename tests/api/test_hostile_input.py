"""Hand-written hostile requests, one per class a fuzzer once turned into a 500: each gets a 4xx with a code,
changes nothing in Redis, and leaves no traceback in the log."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field

import pytest
import redis.asyncio as aioredis
from support import API_KEY, RunningService

from waorch.signing import SESSION_HEADER, sign, webhook_key

SECRET = "test-webhook-secret-0123456789"
STOPPED = {"status": "stopped", "created": "0", "generation": "0"}  # no worker: nothing changes by itself
SEND = '{"to": "+972502345678", "message": "hi", "sessionId": "worker_1"%s}'
PASSWORD = "hunter2"


def tiers(**second: object) -> str:
    """A tier table whose second tier has ``second`` (raw JSON text) in place of its fields."""
    fields = {
        "name": '"warm"',
        "minAgeDays": "3",
        "dailyLimit": "100",
        "perMinute": "15",
        "delayMinMs": "3000",
        "delayMaxMs": "5000",
        "hoursStart": '"08:00"',
        "hoursEnd": '"22:00"',
        **second,
    }
    warm = ", ".join(f'"{name}": {value}' for name, value in fields.items())
    cold = (
        '{"name": "cold", "minAgeDays": 0, "dailyLimit": 20, "perMinute": 5, "delayMinMs": 5000, "delayMaxMs": 8000,'
        ' "hoursStart": "09:00", "hoursEnd": "21:00"}'
    )
    return f'{{"tiers": [{cold}, {{{warm}}}]}}'


def event(**data: object) -> bytes:
    return json.dumps(
        {
            "sessionId": "worker_1",
            "type": "QR_CODE",
            "generation": 0,
            "timestamp": int(time.time() * 1000),
            "data": {"qr": "ref,noise,identity,adv", "expiresAt": time.time() + 60, "ttl": 60, **data},
        }
    ).encode()


@dataclass(frozen=True)
class Hostile:
    """A request (``signed``: a worker webhook signed with worker_1's key, then ``headers`` over that)."""

    method: str
    path: str
    status: int
    code: str
    body: bytes = b""
    headers: dict[str, str | bytes] = field(default_factory=dict)
    signed: bool = False


NOT_UTF8 = b"\xff\xfe\xfd"
CASES = {
    # header values that are not UTF-8 or ASCII, before and after authentication
    "api key not utf-8": Hostile("GET", "/api/sessions", 401, "UNAUTHORIZED", headers={"X-API-Key": NOT_UTF8}),
    "api key latin-1": Hostile(
        "POST", "/api/sessions/provision", 401, "UNAUTHORIZED", b"{}", {"X-API-Key": b"caf\xe9-key-0123456789"}
    ),
    "api key with a bad byte": Hostile(
        "GET", "/api/proxies", 401, "UNAUTHORIZED", headers={"X-API-Key": API_KEY.encode() + b"\x80"}
    ),
    "idempotency key not utf-8": Hostile(
        "POST", "/api/v1/send", 400, "INVALID_IDEMPOTENCY_KEY", (SEND % "").encode(), {"Idempotency-Key": NOT_UTF8}
    ),
    "webhook session not utf-8": Hostile(
        "POST", "/webhook", 401, "BAD_SIGNATURE", event(), {SESSION_HEADER: b"worker_1\xff"}, True
    ),
    "webhook session other digits": Hostile(
        "POST", "/webhook", 401, "BAD_SIGNATURE", event(), {SESSION_HEADER: "worker_١".encode()}, True
    ),
    "webhook id not utf-8": Hostile(
        "POST", "/webhook", 401, "BAD_SIGNATURE", event(), {"webhook-id": b"msg_" + NOT_UTF8}, True
    ),
    "webhook signature not ascii": Hostile(
        "POST", "/webhook", 401, "BAD_SIGNATURE", event(), {"webhook-signature": "v1,é".encode()}, True
    ),
    "webhook timestamp not utf-8": Hostile(
        "POST", "/webhook", 401, "BAD_SIGNATURE", event(), {"webhook-timestamp": NOT_UTF8}, True
    ),
    # JSON nested deeper than the parser can recurse, or than any document of ours
    "nesting past recursion": Hostile("POST", "/api/sessions/provision", 400, "BAD_REQUEST", b"[" * 100_000),
    "nesting in a field": Hostile(
        "POST", "/api/sessions/provision", 400, "BAD_REQUEST", b'{"phone": ' + b"[" * 40 + b"]" * 40 + b"}"
    ),
    "nesting in tiers": Hostile(
        "PUT", "/api/trust-tiers", 400, "BAD_REQUEST", b'{"tiers": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    ),
    "nesting in a webhook": Hostile("POST", "/webhook", 400, "BAD_REQUEST", b'{"data": ' + b"[" * 100_000, signed=True),
    # numbers and dates at the edges
    "sendAt past year 9999": Hostile(
        "POST", "/api/v1/send", 400, "INVALID_SEND_AT", (SEND % ', "sendAt": "9999-12-31T23:59:59-23:59"').encode()
    ),
    "sendAt NaN": Hostile("POST", "/api/v1/send", 400, "BAD_REQUEST", (SEND % ', "sendAt": NaN').encode()),
    "tier age 1e400": Hostile("PUT", "/api/trust-tiers", 400, "BAD_REQUEST", tiers(minAgeDays="1e400").encode()),
    "tier age NaN": Hostile("PUT", "/api/trust-tiers", 400, "BAD_REQUEST", tiers(minAgeDays="NaN").encode()),
    "tier limit beyond float": Hostile(
        "PUT", "/api/trust-tiers", 400, "BAD_REQUEST", tiers(dailyLimit="1" + "0" * 400).encode()
    ),
    "tier age beyond float": Hostile(
        "PUT", "/api/trust-tiers", 400, "BAD_REQUEST", tiers(minAgeDays="9" * 400).encode()
    ),
    "tier delay over a day": Hostile(
        "PUT", "/api/trust-tiers", 400, "INVALID_TIERS", tiers(delayMaxMs="86400001").encode()
    ),
    "tier delay -Infinity": Hostile(
        "PUT", "/api/trust-tiers", 400, "BAD_REQUEST", tiers(delayMinMs="-Infinity").encode()
    ),
    "tier hours with a newline": Hostile(
        "PUT", "/api/trust-tiers", 400, "INVALID_TIERS", tiers(hoursEnd='"22:00\\n"').encode()
    ),
    "huge limit": Hostile("GET", "/api/sessions/worker_1/messages?limit=" + "9" * 5000, 400, "INVALID_QUERY"),
    "limit not utf-8": Hostile("GET", "/api/events/deliveries?limit=%FF", 400, "INVALID_QUERY"),
    "webhook expiry 1e400": Hostile(
        "POST", "/webhook", 400, "BAD_REQUEST", event().replace(b'"ttl": 60', b'"ttl": 1e400'), signed=True
    ),
    # proxy URLs urllib cannot split
    "proxy unclosed bracket": Hostile(
        "POST", "/api/proxies", 400, "INVALID_PROXY", f'{{"url": "socks5h://fleet:{PASSWORD}@[::1:1080"}}'.encode()
    ),
    "provision proxy unclosed bracket": Hostile(
        "POST",
        "/api/sessions/provision",
        400,
        "INVALID_PROXY",
        f'{{"proxy": "socks5://fleet:{PASSWORD}@[fe80::1"}}'.encode(),
    ),
    "proxy with a control character": Hostile(
        "POST", "/api/proxies", 400, "INVALID_PROXY", b'{"url": "socks5h://h\\u0000:1080"}'
    ),
    # an Idempotency-Key with a body whose text is not text
    "idempotent lone surrogate": Hostile(
        "POST",
        "/api/v1/send",
        400,
        "INVALID_TEXT",
        b'{"to": "+972502345678", "message": "hi \\ud800", "sessionId": "worker_1"}',
        {"Idempotency-Key": "k-1"},
    ),
    "idempotent surrogate key": Hostile(
        "POST", "/api/v1/send", 400, "INVALID_TEXT", (SEND % ', "\\udfff": 1').encode(), {"Idempotency-Key": "k-2"}
    ),
    "idempotent body not utf-8": Hostile(
        "POST", "/api/v1/send", 400, "BAD_REQUEST", b'{"to": "' + NOT_UTF8 + b'"}', {"Idempotency-Key": "k-3"}
    ),
    # path parameters that are not text
    "session id not utf-8": Hostile("GET", "/api/sessions/%FF%FE", 404, "SESSION_NOT_FOUND"),
    "session id a surrogate": Hostile("POST", "/api/sessions/%ED%A0%80/restart", 404, "SESSION_NOT_FOUND"),
    "message id not utf-8": Hostile("GET", "/api/v1/messages/%C0%AF", 404, "MESSAGE_NOT_FOUND"),
}


@pytest.fixture
async def running(start_service) -> RunningService:
    running = await start_service()
    for _ in range(2):
        await running.core.pool.provision(dict(STOPPED), None, None)
    return running


async def snapshot(redis: aioredis.Redis) -> dict[str, bytes]:
    """Every key's serialized value (the core's lease is renewed all the time: left out)."""
    return {key: await redis.dump(key) for key in sorted(await redis.keys("*")) if key != "waorch:core:lease"}


def headers_for(case: Hostile) -> dict[str, str | bytes]:
    headers: dict[str, str | bytes] = {"content-type": "application/json"}
    if case.signed:
        headers.update({SESSION_HEADER: "worker_1", **sign(webhook_key(SECRET, "worker_1"), case.body)})
    return {**headers, **case.headers}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_hostile_request_is_a_4xx_that_changes_nothing(
    running: RunningService, case: Hostile, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    before = await snapshot(running.core.redis)
    response = await running.api.request(case.method, case.path, content=case.body, headers=headers_for(case))
    assert (response.status_code, response.json()["error"]) == (case.status, case.code), response.text
    assert PASSWORD not in response.text
    assert await snapshot(running.core.redis) == before
    faults = [record for record in caplog.records if record.exc_info or record.levelno >= logging.ERROR]
    assert faults == [], [record.getMessage() for record in faults]
