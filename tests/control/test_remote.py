"""RemoteControl: the active core's REST API, with the same error codes as a local call."""

from __future__ import annotations

import httpx
import pytest
from impostor import Impostor
from support import API_KEY, free_port

from waorch.control import RemoteControl
from waorch.errors import CoreUnreachable, InsecureCoreUrl, WaorchError
from waorch.loopback import may_carry_secrets


async def test_actions_and_errors_through_the_api(start_service) -> None:
    running = await start_service()
    remote = RemoteControl(running.service.base_url, API_KEY)
    try:
        session_id = await remote.provision(None, None)
        assert await running.service.core.store.find(session_id) is not None
        view = await remote.set_paused(session_id, True)
        assert view["paused"] is True and (await running.service.core.store.get(session_id)).paused
        with pytest.raises(WaorchError) as raised:
            await remote.send(session_id, "not a phone", "hello")
        assert (raised.value.code, raised.value.status) == ("INVALID_PHONE", 400)
        with pytest.raises(WaorchError) as raised:
            await remote.restart("worker_404")
        assert raised.value.code == "SESSION_NOT_FOUND" and raised.value.session_id == "worker_404"
        await remote.delete(session_id)
        assert await running.service.core.store.find(session_id) is None
    finally:
        await remote.close()


async def test_wrong_key_and_unreachable_core_are_clear_errors(start_service) -> None:
    running = await start_service()
    wrong = RemoteControl(running.service.base_url, "not-the-key")
    gone = RemoteControl(f"http://127.0.0.1:{free_port()}", API_KEY)
    try:
        with pytest.raises(WaorchError) as raised:
            await wrong.provision(None, None)
        assert raised.value.code == "UNAUTHORIZED" and await running.service.core.store.ids() == []
        with pytest.raises(CoreUnreachable, match="did not answer"):
            await gone.restart("worker_1")
    finally:
        await wrong.close()
        await gone.close()


@pytest.mark.parametrize(("url", "safe"), [
    ("http://127.0.0.1:3001", True), ("http://127.8.9.1:3001", True), ("http://[::1]:3001", True),
    ("http://localhost:3001", True), ("https://core.example.org", True), ("http://0.0.0.0:3001", False),
    ("http://10.0.0.5:3001", False), ("http://core.example.org:3001", False), ("http://[::ffff:10.0.0.5]:1", False),
    ("ftp://127.0.0.1:21", False), ("http://[::1:3001", False),
])
def test_a_key_travels_only_over_https_or_on_this_machine(url: str, safe: bool) -> None:
    assert may_carry_secrets(url) is safe


async def test_the_api_key_is_never_sent_to_an_address_off_this_machine(impostor: Impostor) -> None:
    # 0.0.0.0 is no loopback address, yet a connection to it reaches this machine (the impostor)
    url = f"http://0.0.0.0:{impostor.port}"
    async with httpx.AsyncClient(trust_env=False) as client:
        assert (await client.get(url + "/api/trust-tiers")).status_code == 200
    impostor.received.clear()
    remote = RemoteControl(url, API_KEY)
    try:
        with pytest.raises(InsecureCoreUrl, match="does not send it the API_KEY"):
            await remote.provision(None, None)
        with pytest.raises(InsecureCoreUrl):
            await remote.verify()
    finally:
        await remote.close()
    assert impostor.received == []
