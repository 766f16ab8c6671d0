"""REST API: every endpoint, its bad input (4xx with a code, nothing changed), and the OpenAPI document."""

from __future__ import annotations

import httpx
import pytest
from support import DOC, RunningService, conforms, eventually, wait_status

from waorch.api.app import create_app
from waorch.webhook_server import receiver


@pytest.fixture
async def running(start_service, socks_proxy) -> RunningService:
    return await start_service(PROXY_URL_1=socks_proxy().url, MAX_SESSIONS_PER_PROXY="2")


async def test_every_route_is_documented(running: RunningService) -> None:
    served = {
        (route.method, route.resource.canonical)
        for route in create_app(running.core, receiver.ROUTES).router.routes()
        if route.method != "HEAD" and route.resource.canonical not in ("/webhook", "/api/openapi.json")
    }
    documented = {
        (method.upper(), path) for path, item in DOC["paths"].items() for method in item if method != "parameters"
    }
    assert served == documented
    served_doc = await running.api.get("/api/openapi.json")
    assert served_doc.json() == DOC


async def test_api_key_required_everywhere_but_health(running: RunningService) -> None:
    async with httpx.AsyncClient(base_url=running.service.base_url, trust_env=False) as anonymous:
        for method, path in [
            ("GET", "/api/sessions"),
            ("POST", "/api/sessions/provision"),
            ("GET", "/api/proxies"),
            ("DELETE", "/api/sessions/worker_1"),
            ("POST", "/api/proxies"),
        ]:
            response = await anonymous.request(method, path, headers={"X-API-Key": "wrong"})
            assert response.status_code == 401 and response.json()["error"] == "UNAUTHORIZED"
        health = await anonymous.get("/health")
    assert health.status_code == 200
    conforms("GET", "/health", health)
    assert health.json()["redis"] is True and "connected" in health.json()["sessions"]
    assert await running.core.store.ids() == []


async def test_session_endpoints_conform(running: RunningService) -> None:
    api = running.api
    created = await api.post("/api/sessions/provision", json={"phone": "+972 50-111-1111"})
    assert created.status_code == 201
    conforms("POST", "/api/sessions/provision", created)
    assert ":***@" not in created.json()["proxy"] and created.json()["phone"] == "972501111111"
    sid = created.json()["sessionId"]
    conforms("GET", "/api/sessions", await api.get("/api/sessions"))
    conforms("GET", "/api/sessions/{id}", await api.get(f"/api/sessions/{sid}"))
    conforms("POST", "/api/sessions/{id}/restart", await api.post(f"/api/sessions/{sid}/restart"))
    conforms("GET", "/api/proxies", await api.get("/api/proxies"))
    deleted = await api.delete(f"/api/sessions/{sid}")
    conforms("DELETE", "/api/sessions/{id}", deleted)
    assert (await api.get(f"/api/sessions/{sid}")).json()["error"] == "SESSION_NOT_FOUND"
    assert (await api.get("/api/proxies")).json()["proxies"][0]["load"] == 0


async def test_proxy_password_never_shown(running: RunningService) -> None:
    added = await running.api.post("/api/proxies", json={"url": "socks5h://alice:s3cret@127.0.0.1:1"})
    assert added.status_code == 201
    conforms("POST", "/api/proxies", added)
    created = await running.api.post("/api/sessions/provision", json={"proxy": "socks5://bob:hunter2@127.0.0.1:2"})
    everything = (
        (await running.api.get("/api/proxies")).text + (await running.api.get("/api/sessions")).text + created.text
    )
    assert not any(secret in everything for secret in ("s3cret", "hunter2", "alice", "bob"))
    assert "socks5h://***@127.0.0.1:1" in everything


BAD_PROVISIONS = [
    ({"phone": "abc"}, 400, "INVALID_PHONE"),
    ({"phone": "12"}, 400, "INVALID_PHONE"),
    ({"phone": 972501111111}, 400, "INVALID_PHONE"),
    ({"proxy": "http://1.2.3.4:8080"}, 400, "INVALID_PROXY"),
    ({"proxy": "socks5h://host"}, 400, "INVALID_PROXY"),
    ({"proxy": "socks5h://host:99999"}, 400, "INVALID_PROXY"),
    ({"proxy": 5}, 400, "INVALID_PROXY"),
    ({"colour": "red"}, 400, "BAD_REQUEST"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_PROVISIONS)
async def test_bad_provision_changes_nothing(running: RunningService, body: dict, status: int, code: str) -> None:
    response = await running.api.post("/api/sessions/provision", json=body)
    assert (response.status_code, response.json()["error"]) == (status, code)
    conforms("POST", "/api/sessions/provision", response)
    assert await running.core.store.ids() == [] and len((await running.api.get("/api/proxies")).json()["proxies"]) == 1


@pytest.mark.parametrize("raw", [b"{nope", b"[1, 2]", b'"text"'])
async def test_malformed_bodies(running: RunningService, raw: bytes) -> None:
    for path in ("/api/sessions/provision", "/api/proxies"):
        response = await running.api.post(path, content=raw, headers={"content-type": "application/json"})
        assert response.status_code == 400 and response.json()["error"] == "BAD_REQUEST"


async def test_full_pool_is_503_and_creates_nothing(running: RunningService) -> None:
    for _ in range(2):
        assert (await running.api.post("/api/sessions/provision", json={})).status_code == 201
    refused = await running.api.post("/api/sessions/provision", json={})
    assert (refused.status_code, refused.json()["error"]) == (503, "NO_PROXY_CAPACITY")
    conforms("POST", "/api/sessions/provision", refused)
    assert len(await running.core.store.ids()) == 2


async def test_unknown_ids_and_busy_proxy(running: RunningService) -> None:
    api = running.api
    for method, path in [
        ("GET", "/api/sessions/worker_99"),
        ("DELETE", "/api/sessions/worker_99"),
        ("POST", "/api/sessions/worker_99/restart"),
        ("POST", "/api/sessions/nope/logout"),
    ]:
        response = await api.request(method, path)
        assert (response.status_code, response.json()["error"]) == (404, "SESSION_NOT_FOUND")
    missing = await api.delete("/api/proxies/px_missing")
    assert (missing.status_code, missing.json()["error"]) == (404, "PROXY_NOT_FOUND")
    conforms("DELETE", "/api/proxies/{id}", missing)
    await api.post("/api/sessions/provision", json={})
    busy_id = (await api.get("/api/proxies")).json()["proxies"][0]["id"]
    busy = await api.delete(f"/api/proxies/{busy_id}")
    assert (busy.status_code, busy.json()["error"]) == (409, "PROXY_IN_USE")
    conforms("DELETE", "/api/proxies/{id}", busy)


async def test_bad_proxy_additions(running: RunningService) -> None:
    api = running.api
    existing = (await api.get("/api/proxies")).json()["proxies"][0]
    for body, code in [({}, "INVALID_PROXY"), ({"url": "ftp://x:1"}, "INVALID_PROXY"), ({"url": ""}, "INVALID_PROXY")]:
        response = await api.post("/api/proxies", json=body)
        assert (response.status_code, response.json()["error"]) == (400, code)
    duplicate = await api.post("/api/proxies", json={"url": existing["url"]})
    assert (duplicate.status_code, duplicate.json()["error"]) == (409, "PROXY_EXISTS")
    conforms("POST", "/api/proxies", duplicate)
    assert len((await api.get("/api/proxies")).json()["proxies"]) == 1


async def test_unknown_endpoint_and_method(running: RunningService) -> None:
    assert (await running.api.get("/api/nothing")).json()["error"] == "NOT_FOUND"
    wrong = await running.api.put("/api/sessions")
    assert (wrong.status_code, wrong.json()["error"]) == (405, "METHOD_NOT_ALLOWED")


ADVICE = {
    "provisioning": "wait until it shows a QR",
    "starting": "wait until it shows a QR",
    "connected": "it is already linked to a phone",
    "disconnected": "wait until it reconnects or shows a QR",
    "logged_out": "restart it to get a new QR",
    "failed": "restart it to get a new QR",
    "stopped": "restart it to get a new QR",
}


async def test_pairing_code_outside_the_qr_is_a_409_naming_the_status_and_what_to_do(start_service) -> None:
    running = await start_service(WATCHDOG_INTERVAL_MS="600000")  # no worker is started for these sessions
    sid, _ = await running.core.pool.provision({"status": "stopped", "created": "0", "generation": "0"}, None, None)
    for status, advice in ADVICE.items():
        await running.core.store.update(sid, status=status)
        answer = await running.api.post(f"/api/sessions/{sid}/pairing-code", json={"phone": "+972 50-111-1111"})
        assert (answer.status_code, answer.json()["error"]) == (409, "NOT_PAIRABLE")
        assert answer.json()["message"].startswith(f"{sid} is {status}: {advice}")
        conforms("POST", "/api/sessions/{id}/pairing-code", answer)
    assert await running.core.store.history(sid) == []


async def test_a_worker_refusal_is_a_409_and_a_worker_that_cannot_answer_a_503(start_service) -> None:
    running = await start_service()
    showing = (await running.api.post("/api/sessions/provision", json={})).json()["sessionId"]
    await wait_status(running.api, showing, "qr_ready")
    await eventually(lambda: command_address(running, showing))
    refused = await running.api.post(f"/api/sessions/{showing}/logout")  # the worker has no account to log out of yet
    assert (refused.status_code, refused.json()["error"]) == (409, "NOT_CONNECTED")
    conforms("POST", "/api/sessions/{id}/logout", refused)
    silent, _ = await running.core.pool.provision({"status": "qr_ready", "created": "0", "generation": "0"}, None, None)
    unreachable = await running.api.post(f"/api/sessions/{silent}/pairing-code", json={"phone": "+972 50-111-1111"})
    assert (unreachable.status_code, unreachable.json()["error"]) == (503, "WORKER_UNREACHABLE")
    conforms("POST", "/api/sessions/{id}/pairing-code", unreachable)
    assert (await running.core.store.get(showing)).status == "qr_ready" and await running.core.store.history(
        silent
    ) == []


async def command_address(running: RunningService, session_id: str) -> str:
    return (await running.core.store.get(session_id)).command_url
