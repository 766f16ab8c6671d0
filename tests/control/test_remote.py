"""RemoteControl: the active core's REST API, with the same error codes as a local call."""

from __future__ import annotations

import pytest
from support import API_KEY, free_port

from waorch.control import RemoteControl
from waorch.errors import CoreUnreachable, WaorchError


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
