"""What the core writes to the activity stream (read by the control room's log pane)."""

from __future__ import annotations

from support import RunningService, eventually, post_event, scan, wait_status

from waorch.clock import SystemClock
from waorch.core.activity import ActivityLog


async def entries(running: RunningService, session_id: str | None = None) -> list:
    """Every entry so far (of one session, if given), oldest first."""
    found = await running.core.activity.latest(10_000)
    return [entry for entry in found if session_id is None or entry.session == session_id]


async def test_a_session_reaching_connected_is_logged_step_by_step(start_service, sim) -> None:
    running: RunningService = await start_service()
    sid = (await running.api.post("/api/sessions/provision", json={})).json()["sessionId"]
    ready = await wait_status(running.api, sid, "qr_ready")
    await scan(sim.url, ready["qr"], "972501111111")
    await wait_status(running.api, sid, "connected")
    logged = await eventually(lambda: _with_text(running, sid, "connected"))
    texts = [entry.text.split(":")[0] for entry in logged]
    assert texts.index("starting") < texts.index("qr_ready") < texts.index("connected")
    assert {entry.level for entry in logged} == {"info"} and {entry.kind for entry in logged} == {"status"}
    assert all(entry.ts > 0 for entry in logged)


async def _with_text(running: RunningService, session_id: str, text: str) -> list | None:
    logged = await entries(running, session_id)
    return logged if any(entry.text.startswith(text) for entry in logged) else None


async def test_a_proxy_error_logs_the_proxy_marked_bad_and_the_move(start_service, socks_proxy) -> None:
    first, second = socks_proxy(), socks_proxy()
    running: RunningService = await start_service(
        PROXY_URL_1=first.url, PROXY_URL_2=second.url, MAX_SESSIONS_PER_PROXY="1"
    )
    sid = (await running.api.post("/api/sessions/provision", json={})).json()["sessionId"]
    ready = await wait_status(running.api, sid, "qr_ready")
    on, other = (
        (first, second) if f"127.0.0.1:{first.port}" in ready["proxy"] else (second, first)
    )  # equal load: either
    generation = (await running.core.store.get(sid)).generation
    await post_event(running, sid, "PROXY_ERROR", {"error": "connection refused"}, generation)
    logged = await entries(running, sid)
    [bad] = [entry for entry in logged if entry.kind == "proxy"]
    assert bad.level == "warning" and f"127.0.0.1:{on.port} marked BAD (connection refused)" in bad.text
    assert any(f"moved to 127.0.0.1:{other.port}" in entry.text for entry in logged if entry.kind == "status")
    assert "@" not in bad.text


async def test_a_failed_message_and_a_failed_session_are_errors(start_service) -> None:
    running: RunningService = await start_service()
    sid = (await running.api.post("/api/sessions/provision", json={})).json()["sessionId"]
    await wait_status(running.api, sid, "qr_ready")
    sent = await running.api.post("/api/v1/send", json={"sessionId": sid, "to": "+972502345678", "message": "hi"})
    assert sent.status_code == 202, sent.text
    message_id = sent.json()["messageId"]
    await post_event(
        running, sid, "MESSAGE_FAILED", {"messageId": message_id, "permanent": True, "error": "not on WhatsApp"}
    )
    await post_event(
        running, sid, "MESSAGE_FAILED", {"messageId": message_id, "permanent": True, "error": "not on WhatsApp"}
    )
    generation = (await running.core.store.get(sid)).generation
    await post_event(running, sid, "AUTH_FAILURE", {"reason": "banned", "detail": "account banned"}, generation)
    errors = [entry for entry in await entries(running, sid) if entry.level == "error"]
    assert [entry.kind for entry in errors] == ["message", "status"]
    assert f"{message_id} to +972502345678 failed: not on WhatsApp" == errors[0].text
    assert errors[1].text == "failed: banned: account banned"


async def test_the_stream_is_capped_and_read_incrementally(redis) -> None:
    activity = ActivityLog(redis, SystemClock(), max_entries=100)
    for n in range(1000):
        await activity.add("info", "test", f"entry {n}")
    assert 100 <= await redis.xlen("waorch:activity") < 300
    last = await activity.latest(3)
    assert [entry.text for entry in last] == ["entry 997", "entry 998", "entry 999"]
    assert await activity.after(last[-1].id) == []
    await activity.add("error", "test", "newer", "worker_7")
    [newer] = await activity.after(last[-1].id)
    assert (newer.text, newer.level, newer.session) == ("newer", "error", "worker_7")
