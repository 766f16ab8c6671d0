"""The simulated network around paired devices: sends, incoming messages, disconnects, logouts, bans."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from waorch.sim import SimOptions, SimServer, serve_forever

PHONE = "972501111111"
OTHER = "972502222222"

Api = Callable[..., Awaitable[tuple[int, Any]]]
Devices = Callable[..., Any]
Paired = Callable[..., Awaitable[Any]]


async def test_send_is_acked_and_logged(paired: Paired, api: Api) -> None:
    item = await paired()
    before = time.time()
    answer = await item.request({"type": "send", "to": OTHER, "text": "hello", "messageId": "msg-1"})
    assert answer["type"] == "ack" and re.fullmatch(r"3EB0[0-9A-F]{18}", answer["waId"])
    await item.request({"type": "send", "to": OTHER, "text": "again", "messageId": "msg-2"})
    status, log = await api("GET", f"/sim/phones/{PHONE}/messages")
    assert status == 200
    assert [(m["messageId"], m["from"], m["to"], m["text"]) for m in log] == [
        ("msg-1", PHONE, OTHER, "hello"),
        ("msg-2", PHONE, OTHER, "again"),
    ]
    assert log[0]["waId"] == answer["waId"] and before <= log[0]["at"] <= log[1]["at"] <= time.time()
    assert await api("GET", f"/sim/phones/{OTHER}/messages") == (200, [])


async def test_send_errors(paired: Paired, device: Devices, api: Api) -> None:
    item = await paired()
    assert await api("POST", "/sim/unregistered", json={"phone": OTHER}) == (
        200,
        {"phone": OTHER, "unregistered": True},
    )
    answer = await item.request({"type": "send", "to": OTHER, "text": "hi", "messageId": "m"})
    assert (answer["type"], answer["code"], answer["permanent"]) == ("error", "NOT_ON_WHATSAPP", True)
    answer = await item.request({"type": "send", "to": "+1", "text": "hi"})
    assert (answer["code"], answer["permanent"]) == ("INVALID_PHONE", True)
    assert (await item.request({"type": "send", "to": PHONE, "text": ""}))["code"] == "INVALID_MESSAGE"
    assert (await item.request({"type": "fly"}))["code"] == "BAD_REQUEST"
    await item.ws.send_str("not json")
    assert (await item.expect("error"))["code"] == "BAD_REQUEST"
    unpaired = await device().connect()
    await unpaired.expect("qr")
    answer = await unpaired.request({"type": "send", "to": PHONE, "text": "hi"})
    assert (answer["code"], answer["permanent"]) == ("NOT_CONNECTED", False)
    assert await api("GET", f"/sim/phones/{PHONE}/messages") == (200, [])


async def test_incoming_reaches_every_device_and_waits_for_offline_ones(
    paired: Paired, device: Devices, api: Api
) -> None:
    first, second = await paired(), await paired()
    await second.close()
    status, body = await api("POST", f"/sim/phones/{PHONE}/incoming", json={"from": OTHER, "text": "hi there"})
    assert status == 200 and (body["delivered"], body["queued"]) == (1, 1)
    message = await first.expect("message")
    assert (message["from"], message["chat"], message["text"], message["waId"]) == (
        OTHER,
        OTHER,
        "hi there",
        body["waId"],
    )
    assert abs(message["timestamp"] - time.time()) < 2
    back = await device(keys=second.keys).connect(second.token)
    await back.expect("connected")
    assert (await back.expect("message"))["waId"] == body["waId"]


async def test_send_to_a_simulated_phone_is_delivered(paired: Paired) -> None:
    sender, receiver = await paired(PHONE), await paired(OTHER)
    answer = await sender.request({"type": "send", "to": OTHER, "text": "ping", "messageId": "m1"})
    message = await receiver.expect("message")
    assert (message["from"], message["text"], message["waId"]) == (PHONE, "ping", answer["waId"])


async def test_typing_presences_are_logged(paired: Paired, api: Api) -> None:
    item = await paired()
    assert item.ws is not None
    for state in ("composing", "paused"):
        await item.ws.send_json({"type": "presence", "to": OTHER, "state": state})
    assert (await item.request({"type": "presence", "to": OTHER, "state": "dancing"}))["code"] == "BAD_REQUEST"
    _, presences = await api("GET", f"/sim/phones/{PHONE}/presences")
    assert [(p["from"], p["to"], p["state"]) for p in presences] == [
        (PHONE, OTHER, "composing"),
        (PHONE, OTHER, "paused"),
    ]


async def test_disconnect_keeps_the_device_paired(paired: Paired, device: Devices, api: Api) -> None:
    item = await paired()
    assert await api("POST", f"/sim/phones/{PHONE}/disconnect") == (200, {"disconnected": 1})
    assert await item.receive() is None
    _, devices = await api("GET", "/sim/devices")
    assert [(d["paired"], d["connected"]) for d in devices] == [(True, False)]
    back = await device(keys=item.keys).connect(item.token)
    await back.expect("connected")


async def test_logout_from_the_phone_voids_the_login(paired: Paired, device: Devices, api: Api) -> None:
    item = await paired()
    assert await api("POST", f"/sim/phones/{PHONE}/logout") == (200, {"loggedOut": 1})
    assert (await item.expect("logged_out"))["reason"] == "device_removed"
    assert await item.receive() is None
    assert await api("GET", "/sim/devices") == (200, [])
    again = await device(keys=item.keys).connect(item.token)
    await again.expect("logged_out")


async def test_logout_from_the_device(paired: Paired, api: Api) -> None:
    item = await paired()
    assert item.ws is not None
    await item.ws.send_json({"type": "logout"})
    assert (await item.expect("logged_out"))["reason"] == "user_logout"
    assert await api("GET", "/sim/devices") == (200, [])


async def test_temporary_ban_refuses_connections_until_it_ends(paired: Paired, device: Devices, api: Api) -> None:
    item = await paired()
    status, body = await api("POST", f"/sim/phones/{PHONE}/ban", json={"seconds": 0.4, "code": 102})
    assert status == 200 and body["code"] == 102
    banned = await item.expect("banned")
    assert (banned["code"], banned["expiresAt"]) == (102, body["expiresAt"])
    assert await item.receive() is None
    early = await device(keys=item.keys).connect(item.token)
    assert (await early.expect("banned"))["expiresAt"] == body["expiresAt"]
    await asyncio.sleep(body["expiresAt"] - time.time() + 0.05)
    late = await device(keys=item.keys).connect(item.token)
    await late.expect("connected")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", f"/sim/phones/{PHONE}/incoming", {"from": OTHER, "text": "x"}, 404, "PHONE_UNKNOWN"),
        ("POST", f"/sim/phones/{PHONE}/disconnect", None, 404, "PHONE_UNKNOWN"),
        ("POST", f"/sim/phones/{PHONE}/logout", None, 404, "PHONE_UNKNOWN"),
        ("POST", f"/sim/phones/{PHONE}/ban", {"seconds": 5}, 404, "PHONE_UNKNOWN"),
        ("POST", "/sim/phones/12ab/logout", None, 400, "INVALID_PHONE"),
        ("GET", "/sim/phones/+972/messages", None, 400, "INVALID_PHONE"),
        ("POST", "/sim/unregistered", {"phone": "1"}, 400, "INVALID_PHONE"),
        ("POST", "/sim/unregistered", {}, 400, "BAD_REQUEST"),
        ("GET", "/sim/nowhere", None, 404, "NOT_FOUND"),
        ("GET", "/sim/scan", None, 405, "METHOD_NOT_ALLOWED"),
        ("GET", "/ws", None, 400, "BAD_REQUEST"),
    ],
)
async def test_control_api_refusals(api: Api, method: str, path: str, body: Any, status: int, code: str) -> None:
    answer = await api(method, path, json=body)
    assert (answer[0], answer[1]["error"]) == (status, code)


@pytest.mark.parametrize(
    "body",
    [
        {"from": "1", "text": "x"},
        {"from": OTHER},
        {"from": OTHER, "text": "x" * 65537},
        "garbage",
    ],
)
async def test_incoming_refuses_bad_bodies(paired: Paired, api: Api, body: Any) -> None:
    await paired()
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
    status, answer = await api("POST", f"/sim/phones/{PHONE}/incoming", **kwargs)
    assert status == 400 and answer["error"] in ("BAD_REQUEST", "INVALID_PHONE")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"seconds": 0},
        {"seconds": -1},
        {"seconds": True},
        {"seconds": "5"},
        {"seconds": 10**9},
        {"seconds": 5, "code": "x"},
        {"seconds": 5, "code": 1.5},
    ],
)
async def test_ban_refuses_bad_bodies(paired: Paired, api: Api, body: Any) -> None:
    item = await paired()
    status, answer = await api("POST", f"/sim/phones/{PHONE}/ban", json=body)
    assert (status, answer["error"]) == (400, "BAD_REQUEST")
    assert (await item.request({"type": "send", "to": OTHER, "text": "still here"}))["type"] == "ack"


async def test_health_counts_devices(paired: Paired, device: Devices, api: Api) -> None:
    await paired()
    await (await device().connect()).expect("qr")
    assert await api("GET", "/sim/health") == (200, {"ok": True, "devices": 2, "connected": 1})


def test_listens_on_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        SimServer(SimOptions(host="0.0.0.0"))


async def test_serve_forever_prints_its_url_and_stops_on_sigterm(
    capsys: pytest.CaptureFixture[str], http: aiohttp.ClientSession
) -> None:
    task = asyncio.create_task(serve_forever(SimOptions()))
    for _ in range(100):
        await asyncio.sleep(0.02)
        out = capsys.readouterr().out
        if out:
            break
    match = re.fullmatch(r"waorch sim listening on (http://127\.0\.0\.1:\d+)\n", out)
    assert match, out
    async with http.get(match.group(1) + "/sim/health") as response:
        assert response.status == 200
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(task, 3.0)
    with pytest.raises(aiohttp.ClientConnectionError):
        await http.get(match.group(1) + "/sim/health")
