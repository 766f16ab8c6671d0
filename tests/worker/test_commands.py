"""The command channel into a worker accepts only commands signed with that worker's key."""

from __future__ import annotations

import json

import httpx
from support import RunningService, eventually, wait_status

from waorch.signing import command_key, sign, webhook_key

SECRET = "test-webhook-secret-0123456789"


async def test_only_correctly_signed_commands_are_accepted(start_service) -> None:
    running: RunningService = await start_service()
    sids = [(await running.api.post("/api/sessions/provision", json={})).json()["sessionId"] for _ in range(2)]
    for sid in sids:
        await wait_status(running.api, sid, "qr_ready")

    async def command_url() -> str:
        return (await running.core.store.get(sids[0])).command_url

    url = await eventually(command_url) + "/command"
    assert url.startswith("http://127.0.0.1:")
    body = json.dumps({"command": "ping"}).encode()
    async with httpx.AsyncClient(trust_env=False) as client:
        async def send(headers: dict[str, str], content: bytes = body) -> int:
            return (await client.post(url, content=content, headers=headers)).status_code

        assert await send(sign(command_key(SECRET, sids[1]), body)) == 401  # another worker's key
        assert await send(sign(webhook_key(SECRET, sids[0]), body)) == 401  # the worker's own event key
        assert await send(sign("guess", body)) == 401
        assert await send({}) == 401
        good = sign(command_key(SECRET, sids[0]), body)
        assert await send(good) == 200
        assert await send(good) == 401  # replayed
        stop = json.dumps({"command": "stop"}).encode()
        assert await send(sign(command_key(SECRET, sids[0]), stop), b'{"command": "logout"}') == 401  # tampered
        unknown = json.dumps({"command": "format_disk"}).encode()
        assert await send(sign(command_key(SECRET, sids[0]), unknown), unknown) == 400
    assert (await running.core.workers.command(sids[0], await command_url(), "ping")) == {"ok": True}
    assert await running.core.lifecycle.is_alive(sids[0])
