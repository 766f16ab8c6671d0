"""The command channel into a worker: only the core's commands for this worker generation are
accepted, and only the worker's own signed answers are trusted."""

from __future__ import annotations

import json

import httpx
import pytest
from support import RunningService, eventually, wait_status

from waorch.core.sessions import Session
from waorch.errors import WorkerUnreachable
from waorch.signing import ID_HEADER, command_key, sign, verify_reply, webhook_key

SECRET = "test-webhook-secret-0123456789"


async def reachable(running: RunningService, session_id: str, generation: int = 1) -> Session:
    """The session once its worker of ``generation`` has reported where it takes commands."""

    async def check() -> Session | None:
        session = await running.core.store.get(session_id)
        return session if session.command_url and session.generation == generation else None

    return await eventually(check)


async def test_only_correctly_signed_commands_are_accepted(start_service) -> None:
    running: RunningService = await start_service()
    sids = [(await running.api.post("/api/sessions/provision", json={})).json()["sessionId"] for _ in range(2)]
    for sid in sids:
        await wait_status(running.api, sid, "qr_ready")
    session = await reachable(running, sids[0])
    url = session.command_url + "/command"
    assert url.startswith("http://127.0.0.1:")
    key = command_key(SECRET, sids[0], session.generation)
    body = json.dumps({"command": "ping"}).encode()
    async with httpx.AsyncClient(trust_env=False) as client:

        async def send(headers: dict[str, str], content: bytes = body) -> int:
            return (await client.post(url, content=content, headers=headers)).status_code

        assert await send(sign(command_key(SECRET, sids[1], session.generation), body)) == 401  # another worker's key
        assert (
            await send(sign(command_key(SECRET, sids[0], session.generation + 1), body)) == 401
        )  # another generation's
        assert await send(sign(webhook_key(SECRET, sids[0]), body)) == 401  # the worker's own event key
        assert await send(sign("guess", body)) == 401
        assert await send({}) == 401
        good = sign(key, body)
        answer = await client.post(url, content=body, headers=good)
        assert answer.status_code == 200
        verify_reply(key, good[ID_HEADER], answer.headers, answer.content)  # the worker signed its answer to it
        assert await send(good) == 401  # replayed
        stop = json.dumps({"command": "stop"}).encode()
        assert await send(sign(key, stop), b'{"command": "logout"}') == 401  # tampered
        unknown = json.dumps({"command": "format_disk"}).encode()
        assert await send(sign(key, unknown), unknown) == 400
    assert (await running.core.workers.command(session, "ping")) == {"ok": True}
    assert await running.core.lifecycle.is_alive(sids[0])


async def test_a_command_captured_for_one_worker_generation_is_refused_by_the_next(start_service) -> None:
    running: RunningService = await start_service()
    sid = (await running.api.post("/api/sessions/provision", json={})).json()["sessionId"]
    first = await reachable(running, sid)
    body = json.dumps({"command": "ping"}).encode()
    captured = sign(command_key(SECRET, sid, first.generation), body)  # e.g. read off the loopback interface
    async with httpx.AsyncClient(trust_env=False) as client:
        assert (await client.post(first.command_url + "/command", content=body, headers=captured)).status_code == 200
        await running.api.post(f"/api/sessions/{sid}/restart")
        second = await reachable(running, sid, first.generation + 1)
        replayed = await client.post(second.command_url + "/command", content=body, headers=captured)
    assert replayed.status_code == 401  # the new worker's replay guard is empty: only its key refuses it
    assert (await running.core.workers.command(second, "ping")) == {"ok": True}


async def test_an_answer_that_is_not_the_workers_own_is_no_answer(start_service, impostor) -> None:
    running: RunningService = await start_service()
    sid = (await running.api.post("/api/sessions/provision", json={})).json()["sessionId"]
    session = await reachable(running, sid)
    at_impostor = Session(sid, command_url=f"http://127.0.0.1:{impostor.port}", generation=session.generation)
    with pytest.raises(WorkerUnreachable, match="not the worker's"):
        await running.core.workers.command(at_impostor, "send", messageId="m1", to="972522222222", text="hi")
    assert impostor.received[0].json["text"] == "hi"  # it got the command, but its "sent" counts for nothing
