"""Each worker event's effect on session state (events posted signed, as a worker would)."""

from __future__ import annotations

import time

import pytest
from impostor import Impostor
from support import RunningService, post_event

from waorch.core.sessions import Session
from waorch.core.worker_client import command_address
from waorch.errors import WorkerUnreachable
from waorch.signing import CHANNEL_VERSION


@pytest.fixture
async def running(start_service) -> RunningService:
    running = await start_service()
    await running.core.pool.provision({"status": "stopped", "created": "0", "generation": "0"}, None, None)
    return running


def ping(command_url: object) -> dict:
    """A PING as this version's worker sends it."""
    return {"commandUrl": command_url, "pid": 1234, "channel": CHANNEL_VERSION}


async def session(running: RunningService):
    return await running.core.store.get("worker_1")


async def test_qr_then_connected(running: RunningService) -> None:
    await post_event(running, "worker_1", "QR_CODE", {"qr": "r,n,i,a", "expiresAt": time.time() + 60, "ttl": 60})
    assert ((await session(running)).status, (await session(running)).qr) == ("qr_ready", "r,n,i,a")
    await post_event(running, "worker_1", "CONNECTED", {"phoneNumber": "+972501111111"})
    current = await session(running)
    assert (current.status, current.phone, current.qr) == ("connected", "972501111111", "")
    assert current.connected_since > 0


async def test_logged_out_deletes_auth_data(running: RunningService) -> None:
    auth = running.settings.sessions_dir / "worker_1"
    auth.mkdir(parents=True)
    (auth / "creds.json").write_text("{}")
    await post_event(
        running, "worker_1", "DISCONNECTED", {"reason": "logged_out", "loggedOut": True, "detail": "removed on phone"}
    )
    current = await session(running)
    assert current.status == "logged_out" and "removed on phone" in current.reason and not auth.exists()


async def test_temporary_ban_keeps_expiry(running: RunningService) -> None:
    until = time.time() + 3600
    await post_event(
        running,
        "worker_1",
        "DISCONNECTED",
        {"reason": "temporary_ban", "loggedOut": False, "code": 101, "expiresAt": until},
    )
    current = await session(running)
    assert (
        current.status == "disconnected"
        and current.ban_until == pytest.approx(until)
        and "temporary_ban" in current.reason
    )


@pytest.mark.parametrize("reason", ["stream_replaced", "client_outdated"])
async def test_final_disconnects_park_the_session(running: RunningService, reason: str) -> None:
    await post_event(running, "worker_1", "DISCONNECTED", {"reason": reason, "loggedOut": False})
    current = await session(running)
    assert current.status == "failed" and current.reason.startswith(reason)


async def test_auth_failure_and_ping(running: RunningService) -> None:
    await post_event(running, "worker_1", "PING", ping("http://127.0.0.1:5555"))
    assert (await session(running)).command_url == "http://127.0.0.1:5555"
    await post_event(running, "worker_1", "AUTH_FAILURE", {"reason": "qr_timeout", "detail": "nobody scanned"})
    current = await session(running)
    assert (current.status, current.reason) == ("failed", "qr_timeout: nobody scanned")


async def test_events_of_a_replaced_worker_generation_are_ignored(running: RunningService) -> None:
    await running.core.store.update("worker_1", generation=2)
    response = await post_event(running, "worker_1", "AUTH_FAILURE", {"reason": "qr_timeout"}, generation=1)
    assert response.status_code == 200 and (await session(running)).status == "stopped"


async def test_malformed_event_data_is_400_and_changes_nothing(running: RunningService) -> None:
    for kind, data in [("QR_CODE", {"qr": 5}), ("CONNECTED", {"phoneNumber": "abc"})]:
        response = await post_event(running, "worker_1", kind, data)
        assert response.status_code == 400
    assert (await session(running)).status == "stopped"


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3:8080",
        "http://0.0.0.0:{port}",
        "http://169.254.169.254:80",
        "http://core.example.org:80",
        "https://127.0.0.1:{port}",
        "http://user:pw@127.0.0.1:{port}",
        "http://127.0.0.1:{port}/elsewhere",
        "http://127.0.0.1",
        "http://[::1:{port}",
        5555,
        "",
    ],
)
async def test_a_signed_ping_naming_an_address_off_this_machine_is_refused(
    running: RunningService, impostor: Impostor, url: object
) -> None:
    """Anyone holding a leaked worker key cannot point the core's commands (texts, recipients) elsewhere."""
    await post_event(running, "worker_1", "PING", ping("http://127.0.0.1:5555"))
    before = await session(running)
    shown = url.format(port=impostor.port) if isinstance(url, str) else url
    response = await post_event(running, "worker_1", "PING", ping(shown))
    assert (response.status_code, response.json()["error"]) == (400, "COMMAND_URL_REFUSED")
    after = await session(running)
    assert (after.command_url, after.last_ping) == (before.command_url, before.last_ping)
    if isinstance(url, str) and "{port}" in url:  # (only these could reach anything, and only this machine)
        with pytest.raises(WorkerUnreachable):
            await running.core.workers.command(
                Session("worker_1", command_url=shown), "send", to="972522222222", text="hi"
            )
    assert impostor.received == []


async def test_a_loopback_command_address_is_kept(running: RunningService) -> None:
    for url in ("http://127.0.0.1:5555", "http://[::1]:5556", "http://127.0.0.2:5557/"):
        assert (await post_event(running, "worker_1", "PING", ping(url))).status_code == 200
        assert (await session(running)).command_url == url.rstrip("/")


async def test_a_worker_started_before_an_upgrade_is_restarted(running: RunningService) -> None:
    """It has no key of its generation and signs no answer: every command to it would fail."""
    response = await post_event(running, "worker_1", "PING", {"commandUrl": "http://127.0.0.1:5555", "pid": 1234})
    assert response.status_code == 200
    assert (await session(running)).restarts == 1
    history = await running.core.store.history("worker_1")
    assert any("older command channel" in entry.get("problem", "") for entry in history if entry["kind"] == "restart")


def test_on_a_container_network_a_worker_is_reached_by_its_own_container_name_only(make_settings) -> None:
    """The compose stack's workers advertise their container's name; no other name may take commands."""
    settings = make_settings(RUNNER="docker", DOCKER_NETWORK="waorch")  # settings only: no engine is asked
    own = settings.worker_host("worker_1")
    assert own == "wa_session_worker_1"
    assert command_address("http://wa_session_worker_1:4000", own) == "http://wa_session_worker_1:4000"
    assert command_address("http://127.0.0.1:4000", own) == "http://127.0.0.1:4000"
    for other in (
        "http://wa_session_worker_2:4000",
        "http://wa_session_worker_1.example.org:4000",
        "http://redis:6379",
    ):
        assert command_address(other, own) is None, other
    assert make_settings(RUNNER="docker").worker_host("worker_1") is None  # host networking: loopback only
    assert make_settings(RUNNER="swarm", DOCKER_NETWORK="waorch", DEPLOYMENT="b").worker_host("worker_2") == (
        "b_wa_session_worker_2"
    )
