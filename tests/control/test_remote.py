"""RemoteControl: the active core's REST API, with the same error codes as a local call."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
from impostor import Impostor
from support import API_KEY, every_kind, free_port

from waorch.api.statuses import error_from, error_json, status_of
from waorch.control import RemoteControl
from waorch.core.tiers import DEFAULT_TIERS
from waorch.errors import (
    ConfigError,
    Conflict,
    CoreUnreachable,
    InsecureCoreUrl,
    InvalidPhone,
    InvalidTiers,
    ProxyExists,
    SessionNotFound,
    Unauthorized,
    Unavailable,
    WaorchError,
)
from waorch.loopback import may_carry_secrets


async def test_actions_and_errors_through_the_api(start_service) -> None:
    running = await start_service()
    remote = RemoteControl(running.service.base_url, API_KEY)
    try:
        session_id = await remote.provision(None, None)
        assert await running.service.core.store.find(session_id) is not None
        await remote.set_paused(session_id, True)
        assert (await running.service.core.store.get(session_id)).paused
        with pytest.raises(InvalidPhone) as raised:  # the class a local call raises, so handlers need not know which
            await remote.send(session_id, "not a phone", "hello")
        assert raised.value.code == "INVALID_PHONE" and "not a valid phone number" in raised.value.message
        with pytest.raises(SessionNotFound) as raised:
            await remote.restart("worker_404")
        assert raised.value.code == "SESSION_NOT_FOUND" and raised.value.session_id == "worker_404"
        added = await remote.add_proxy("socks5h://fleet:hunter2@127.0.0.1:1080")
        assert (added.endpoint, added.url) == ("127.0.0.1:1080", "socks5h://***@127.0.0.1:1080")
        with pytest.raises(ProxyExists):  # a conflict (409) is a Conflict here too
            await remote.add_proxy("socks5h://fleet:hunter2@127.0.0.1:1080")
        await remote.remove_proxy(added.id)
        saved = await remote.replace_tiers([replace(tier, daily_limit=7) for tier in DEFAULT_TIERS])
        assert saved == await running.service.core.tiers.all() and {tier.daily_limit for tier in saved} == {7}
        with pytest.raises(InvalidTiers):
            await remote.replace_tiers([replace(DEFAULT_TIERS[0], min_age_days=1)])
        await remote.delete(session_id)
        assert await running.service.core.store.find(session_id) is None
    finally:
        await remote.close()


async def test_wrong_key_and_unreachable_core_are_clear_errors(start_service) -> None:
    running = await start_service()
    wrong = RemoteControl(running.service.base_url, "not-the-key")
    gone = RemoteControl(f"http://127.0.0.1:{free_port()}", API_KEY)
    try:
        with pytest.raises(Unauthorized) as raised:
            await wrong.provision(None, None)
        assert raised.value.code == "UNAUTHORIZED" and await running.service.core.store.ids() == []
        with pytest.raises(CoreUnreachable, match="did not answer"):
            await gone.restart("worker_1")
    finally:
        await wrong.close()
        await gone.close()


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("http://127.0.0.1:3001", True),
        ("http://127.8.9.1:3001", True),
        ("http://[::1]:3001", True),
        ("http://localhost:3001", True),
        ("https://core.example.org", True),
        ("http://0.0.0.0:3001", False),
        ("http://10.0.0.5:3001", False),
        ("http://core.example.org:3001", False),
        ("http://[::ffff:10.0.0.5]:1", False),
        ("ftp://127.0.0.1:21", False),
        ("http://[::1:3001", False),
    ],
)
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


@pytest.mark.parametrize("kind", [kind for kind in every_kind() if kind is not ConfigError], ids=lambda kind: kind.code)
def test_an_error_answered_by_the_api_is_raised_again_as_its_own_class(kind: type[WaorchError]) -> None:
    error = kind("what went wrong", session_id="worker_7")
    again = error_from(status_of(error), error_json(error))
    assert (type(again), again.code, again.message, again.session_id) == (
        kind,
        kind.code,
        "what went wrong",
        "worker_7",
    )


def test_a_code_of_no_class_of_ours_keeps_its_kind() -> None:
    refused = error_from(409, {"error": "NOT_IN_QR_PHASE", "message": "no QR is shown"}, "worker_3")
    assert isinstance(refused, Conflict) and (refused.code, refused.session_id) == ("NOT_IN_QR_PHASE", "worker_3")
    assert isinstance(error_from(503, {"error": "WORKER_ERROR"}), Unavailable)
    assert type(error_from(502, "<html>bad gateway</html>")) is WaorchError
