"""Pairing on the simulator: QR refs that rotate and expire, scans, pairing codes, logins."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from waorch.sim import SimServer

PHONE = "972501111111"
OTHER = "972502222222"

Api = Callable[..., Awaitable[tuple[int, Any]]]
Devices = Callable[..., Any]
Paired = Callable[..., Awaitable[Any]]
Sims = Callable[..., Awaitable[SimServer]]


async def test_qr_payload_is_ref_and_the_clients_keys(device: Devices, api: Api) -> None:
    item = await device().connect()
    before = time.time()
    qr = await item.expect("qr")
    assert qr["ref"].startswith("2@") and "," not in qr["ref"]
    assert qr["ttl"] == 5.0
    assert before + 5.0 <= qr["expiresAt"] <= time.time() + 5.0
    status, devices = await api("GET", "/sim/devices")
    assert status == 200
    assert devices == [
        {
            "id": devices[0]["id"],
            "name": "test",
            "phone": None,
            "paired": False,
            "connected": False,
            "qr": item.payload(qr["ref"]),
        }
    ]


async def test_qr_rotates_then_the_phase_ends(sim_factory: Sims, device: Devices, http: aiohttp.ClientSession) -> None:
    sim = await sim_factory(qr_first_ttl=0.3, qr_ttl=0.2, qr_count=3)
    item = await device(sim.url).connect()
    started = time.monotonic()
    codes = [await item.expect("qr") for _ in range(3)]
    await item.expect("qr_timeout")
    assert 0.6 < time.monotonic() - started < 1.5
    assert [code["ttl"] for code in codes] == [0.3, 0.2, 0.2]
    assert len({code["ref"] for code in codes}) == 3
    assert await item.receive() is None
    async with http.post(
        sim.url + "/sim/scan", json={"qr": item.payload(codes[-1]["ref"]), "phone": PHONE}
    ) as response:
        assert (response.status, (await response.json())["error"]) == (410, "QR_EXPIRED")
    async with http.get(sim.url + "/sim/devices") as response:
        assert await response.json() == []


async def test_scan_pairs_and_connects(device: Devices, api: Api) -> None:
    item = await device().connect()
    qr = await item.expect("qr")
    status, body = await api("POST", "/sim/scan", json={"qr": item.payload(qr["ref"]), "phone": PHONE})
    assert status == 200 and body["phone"] == PHONE
    paired = await item.expect("paired")
    assert paired["phone"] == PHONE and len(paired["token"]) >= 32 and paired["deviceId"] == body["deviceId"]
    assert (await item.expect("connected"))["phone"] == PHONE
    _, devices = await api("GET", "/sim/devices")
    assert devices == [
        {"id": body["deviceId"], "name": "test", "phone": PHONE, "paired": True, "connected": True, "qr": None}
    ]
    assert paired["token"] not in str(devices)


async def test_rotated_ref_is_expired(sim_factory: Sims, device: Devices, http: aiohttp.ClientSession) -> None:
    sim = await sim_factory(qr_first_ttl=0.2, qr_ttl=5.0)
    item = await device(sim.url).connect()
    first, _ = await item.expect("qr"), await item.expect("qr")
    async with http.post(sim.url + "/sim/scan", json={"qr": item.payload(first["ref"]), "phone": PHONE}) as response:
        assert response.status == 410
        assert (await response.json())["error"] == "QR_EXPIRED"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("not json", 400, "BAD_REQUEST"),
        ([1, 2], 400, "BAD_REQUEST"),
        ({"phone": PHONE}, 400, "BAD_REQUEST"),
        ({"qr": "x,y,z,w"}, 400, "BAD_REQUEST"),
        ({"qr": "x,y,z,w", "phone": 972501111111}, 400, "BAD_REQUEST"),
        ({"qr": "x,y,z,w", "phone": "050-111-1111"}, 400, "INVALID_PHONE"),  # national: the simulator has no region
        ({"qr": "x,y,z,w", "phone": "123456"}, 400, "INVALID_PHONE"),
        ({"qr": "x,y,z,w", "phone": "1234567890123456"}, 400, "INVALID_PHONE"),
        ({"qr": "just-a-ref", "phone": PHONE}, 400, "QR_INVALID"),
        ({"qr": "2@nosuchref,a,b,c", "phone": PHONE}, 404, "QR_UNKNOWN"),
    ],
)
async def test_scan_refuses_bad_input(api: Api, body: Any, status: int, code: str) -> None:
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
    answer = await api("POST", "/sim/scan", **kwargs)
    assert answer[0] == status and answer[1]["error"] == code and answer[1]["message"]


async def test_scan_with_other_keys_is_refused(device: Devices, api: Api) -> None:
    item, other = await device().connect(), device()
    qr = await item.expect("qr")
    status, body = await api("POST", "/sim/scan", json={"qr": other.payload(qr["ref"]), "phone": PHONE})
    assert (status, body["error"]) == (400, "QR_MISMATCH")


async def test_fifth_companion_device_is_refused(paired: Paired, device: Devices, api: Api) -> None:
    for _ in range(4):
        await paired(PHONE)
    item = await device().connect()
    qr = await item.expect("qr")
    status, body = await api("POST", "/sim/scan", json={"qr": item.payload(qr["ref"]), "phone": PHONE})
    assert (status, body["error"]) == (409, "DEVICE_LIMIT")
    assert (await api("POST", "/sim/scan", json={"qr": item.payload(qr["ref"]), "phone": OTHER}))[0] == 200


async def test_token_logs_in_without_qr(paired: Paired, device: Devices) -> None:
    first = await paired()
    await first.close()
    again = await device(keys=first.keys).connect(first.token)
    assert (await again.expect("connected"))["phone"] == PHONE


async def test_unknown_token_is_logged_out(device: Devices) -> None:
    item = await device().connect("no-such-token")
    assert (await item.expect("logged_out"))["reason"] == "device_removed"
    assert await item.receive() is None


async def test_second_connection_replaces_the_first(paired: Paired, device: Devices) -> None:
    first = await paired()
    second = await device(keys=first.keys).connect(first.token)
    await second.expect("connected")
    await first.expect("replaced")
    assert await first.receive() is None


async def test_bad_hello_is_refused(device: Devices) -> None:
    item = await device(keys={"noise": "a", "identity": "b", "adv": ""}).connect()
    assert (await item.expect("error"))["code"] == "BAD_HELLO"
    assert await item.receive() is None


async def test_pairing_code_links_the_device(device: Devices, api: Api) -> None:
    item = await device().connect()
    await item.expect("qr")
    answer = await item.request({"type": "pair_phone", "phone": PHONE})
    assert answer["type"] == "pair_code" and re.fullmatch(r"[1-9A-Z]{4}-[1-9A-Z]{4}", answer["code"])
    assert (await api("POST", "/sim/link-code", json={"phone": OTHER, "code": answer["code"]}))[1][
        "error"
    ] == "CODE_UNKNOWN"
    assert (await api("POST", "/sim/link-code", json={"phone": PHONE, "code": "AAAA-AAAA"}))[0] == 404
    status, body = await api("POST", "/sim/link-code", json={"phone": PHONE, "code": answer["code"].lower()})
    assert status == 200 and body["phone"] == PHONE
    assert (await item.expect("paired"))["phone"] == PHONE
    await item.expect("connected")
    status, body = await api("POST", "/sim/link-code", json={"phone": PHONE, "code": answer["code"]})
    assert (status, body["error"]) == (410, "CODE_EXPIRED")


async def test_pairing_code_errors(device: Devices, api: Api) -> None:
    item = await device().connect()
    await item.expect("qr")
    assert (await item.request({"type": "pair_phone", "phone": "12"}))["code"] == "INVALID_PHONE"
    old = (await item.request({"type": "pair_phone", "phone": PHONE}))["code"]
    await item.request({"type": "pair_phone", "phone": PHONE})
    assert (await api("POST", "/sim/link-code", json={"phone": PHONE, "code": old}))[0] == 410
    assert (await api("POST", "/sim/link-code", json={"phone": PHONE}))[1]["error"] == "BAD_REQUEST"
    assert (await api("POST", "/sim/link-code", json={"phone": "abc", "code": old}))[1]["error"] == "INVALID_PHONE"


async def test_paired_devices_survive_a_restart_with_a_state_file(
    tmp_path: Path, sim_factory: Sims, device: Devices, http: aiohttp.ClientSession
) -> None:
    state = tmp_path / "sim-state.json"
    sim = await sim_factory(state_path=state)
    item = await device(sim.url).connect()
    qr = await item.expect("qr")
    async with http.post(sim.url + "/sim/scan", json={"qr": item.payload(qr["ref"]), "phone": PHONE}) as response:
        assert response.status == 200
    token = (await item.expect("paired"))["token"]
    await item.close()
    await sim.stop()
    assert state.stat().st_mode & 0o777 == 0o600
    assert token not in state.read_text()
    restarted = await sim_factory(state_path=state, port=sim.port)
    again = await device(restarted.url, item.keys).connect(token)
    assert (await again.expect("connected"))["phone"] == PHONE
