"""The dispatcher: what holds a queue's head and when it goes (paused, not connected, banned, a retry, the
reach-out hold, the tier's pacing and hours, said in words), how a send's outcome is settled, and that a
loop woken by a change still sees an arrival that follows it at once."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis
from support import conforms, eventually, post_event
from test_sending import FAST, _is, connected_session, status_of

from waorch.clock import ScaledClock, SystemClock
from waorch.core.activity import ActivityLog
from waorch.core.dispatcher import MAX_ATTEMPTS, Dispatcher, retry_delay
from waorch.core.lease import CoreLease
from waorch.core.messages import Message, MessageStore, new_message_id
from waorch.core.sessions import SessionStore
from waorch.core.tiers import Tier, TierStore
from waorch.core.worker_client import WorkerClient

OPEN = Tier("open", 0, 1000, 1000, 0, 0, "00:00", "24:00")  # nothing in the tier holds a send
TO = "972522222222"


@pytest.fixture
async def dispatcher(redis: aioredis.Redis, lease: CoreLease) -> AsyncIterator[Dispatcher]:
    """A dispatcher on the real stores (its loops are not started: each test asks it directly)."""
    clock, workers = SystemClock(), WorkerClient("test-webhook-secret-0123456789", lambda session_id: None)
    tiers = TierStore(redis)
    await tiers.replace([OPEN])
    yield Dispatcher(
        SessionStore(redis, clock),
        MessageStore(redis, lease),
        tiers,
        workers,
        clock,
        ZoneInfo("UTC"),
        ActivityLog(redis, clock),
    )
    await workers.close()


async def queued(dispatcher: Dispatcher, session_id: str, to: str = TO) -> Message:
    message = Message(new_message_id(), session_id, to, "hello", "", created=time.time(), count_day="2026-01-01")
    assert await dispatcher.messages.accept(message, (OPEN,), time.time(), due=True)
    return await dispatcher.messages.get(message.id)


async def test_a_paused_or_unconnected_session_holds_its_head_until_that_changes(
    dispatcher: Dispatcher, sessions: list[str]
) -> None:
    message = await queued(dispatcher, sessions[0])
    session = await dispatcher.sessions.get(sessions[0])
    hold = await dispatcher.timing.next_send(session, message)
    assert hold.reason == "" and hold.at <= time.time()  # connected, nothing holds it: due now
    await dispatcher.sessions.update(sessions[0], paused=1)
    hold = await dispatcher.timing.next_send(await dispatcher.sessions.get(sessions[0]), message)
    assert (hold.at, hold.reason) == (math.inf, "paused")
    await dispatcher.sessions.update(sessions[0], paused=0, status="qr_ready")
    hold = await dispatcher.timing.next_send(await dispatcher.sessions.get(sessions[0]), message)
    assert (hold.at, hold.reason, hold.text) == (math.inf, "not_connected", "the session is not connected (qr_ready)")


async def test_of_a_ban_a_retry_and_the_reach_out_hold_the_one_that_ends_last_decides(
    dispatcher: Dispatcher, sessions: list[str]
) -> None:
    sid, now = sessions[0], time.time()
    message = await queued(dispatcher, sid)
    holds = {"banned": {"ban_until": now + 300}, "reach_out": {"restricted_until": now + 600}}
    for reason, values in holds.items():
        await dispatcher.sessions.update(sid, **values)
        hold = await dispatcher.timing.next_send(await dispatcher.sessions.get(sid), message)
        assert (hold.reason, hold.at) == (reason, next(iter(values.values())))
    retried = Message(**{**message.__dict__, "retry_at": now + 900})
    hold = await dispatcher.timing.next_send(await dispatcher.sessions.get(sid), retried)
    assert (hold.reason, hold.at) == ("retry", now + 900) and hold.text.startswith("tried again at ")


async def test_the_reach_out_hold_holds_only_new_contacts(dispatcher: Dispatcher, sessions: list[str]) -> None:
    sid = sessions[0]
    known = await queued(dispatcher, sid)
    assert await dispatcher.messages.start(sid, known.id, time.time())
    await dispatcher.settle(sid, known.id, {"state": "sent", "waId": "W1"})
    await dispatcher.sessions.update(sid, restricted_until=time.time() + 600)
    session = await dispatcher.sessions.get(sid)
    assert (
        await dispatcher.timing.next_send(session, await queued(dispatcher, sid))
    ).reason == ""  # a contact: not held
    assert (
        await dispatcher.timing.next_send(session, await queued(dispatcher, sid, "972524444444"))
    ).reason == "reach_out"


async def test_a_send_not_made_is_tried_again_later_each_time_then_given_up(
    dispatcher: Dispatcher, sessions: list[str]
) -> None:
    sid = sessions[0]
    message = await queued(dispatcher, sid)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert await dispatcher.messages.start(sid, message.id, time.time()) == attempt
        before = time.time()
        await dispatcher.settle(sid, message.id, {"state": "not_sent", "error": "no route"})
        message = await dispatcher.messages.get(message.id)
        if attempt < MAX_ATTEMPTS:
            assert message.status == "queued" and before + retry_delay(
                attempt
            ) <= message.retry_at <= time.time() + retry_delay(attempt)
    assert (message.status, message.error) == ("dead", f"gave up after {MAX_ATTEMPTS} attempts: no route")


async def test_a_send_the_worker_never_received_goes_again_at_once(dispatcher: Dispatcher, sessions: list[str]) -> None:
    """Started, then lost before the worker saw it (Redis died under the start): its journal answers "none".
    Nothing went out, so no backoff: the message is due again now, in its place at the head."""
    sid = sessions[0]
    message = await queued(dispatcher, sid)
    behind = await queued(dispatcher, sid)
    assert await dispatcher.messages.start(sid, message.id, time.time()) == 1
    await dispatcher.settle(sid, message.id, {"ok": True, "state": "none"})
    message = await dispatcher.messages.get(message.id)
    assert (message.status, message.error) == ("queued", "the send did not reach the worker")
    _, inflight, head = await dispatcher.messages.queue_state(sid)
    assert (inflight, head) == ([], message.id)
    hold = await dispatcher.timing.next_send(await dispatcher.sessions.get(sid), message)
    assert hold.reason == "" and hold.at <= time.time()
    assert (await dispatcher.messages.get(behind.id)).status == "queued"


async def test_an_outcome_that_cannot_be_known_is_never_sent_again(dispatcher: Dispatcher, sessions: list[str]) -> None:
    sid = sessions[0]
    message = await queued(dispatcher, sid)
    assert await dispatcher.messages.start(sid, message.id, time.time())
    await dispatcher.settle(sid, message.id, {"state": "lost"})
    message = await dispatcher.messages.get(message.id)
    assert (message.status, message.error) == ("unknown", "outcome unknown (worker lost the send)")
    _, inflight, head = await dispatcher.messages.queue_state(sid)
    assert (inflight, head) == ([], None)


async def test_a_message_arriving_just_after_a_wake_is_sent_at_once(scaled) -> None:
    """A wake (here: a worker event) followed at once by an arrival: the arrival must not wait for the next poll."""
    running, sim = scaled
    await running.api.put("/api/trust-tiers", json={"tiers": [FAST]})
    sid = await connected_session(running, sim.url)
    generation = (await running.core.store.get(sid)).generation
    for n in range(16):
        lifted = {"reason": "reachout_timelock", "detail": "test", "until": 0}  # a restriction already over
        assert (await post_event(running, sid, "SEND_RESTRICTED", lifted, generation)).status_code == 200
        queued = (
            await running.api.post("/api/v1/send", json={"to": "+972522222222", "message": f"m{n}", "sessionId": sid})
        ).json()
        await eventually(
            lambda m=queued["messageId"]: _is(status_of(running, m), "sent"), timeout=4
        )  # a lost wake waits 15 s


async def test_reach_out_timelock_holds_new_contacts_only_until_it_passes(start_service, sim_factory) -> None:
    clock = ScaledClock(20)
    sim = await sim_factory(clock=clock, qr_first_ttl=30, qr_ttl=10)
    running = await start_service(clock=clock, SIM_URL=sim.url, RESTRICT_NEW_CONTACTS_MS="120000")
    await running.api.put("/api/trust-tiers", json={"tiers": [FAST]})
    sid = await connected_session(running, sim.url)
    known = (
        await running.api.post("/api/v1/send", json={"to": "+972522222222", "message": "hello", "sessionId": sid})
    ).json()

    await eventually(lambda: _is(status_of(running, known["messageId"]), "sent"), timeout=10)
    generation = (await running.core.store.get(sid)).generation
    answer = await post_event(
        running, sid, "SEND_RESTRICTED", {"reason": "reachout_timelock", "detail": "463", "until": None}, generation
    )
    assert answer.status_code == 200
    again = (
        await running.api.post(
            "/api/v1/send", json={"to": "+972522222222", "message": "known contact", "sessionId": sid}
        )
    ).json()
    await eventually(lambda: _is(status_of(running, again["messageId"]), "sent"), timeout=10)
    new = (
        await running.api.post("/api/v1/send", json={"to": "+972524444444", "message": "new contact", "sessionId": sid})
    ).json()
    await clock.sleep(60)  # half the hold
    assert await status_of(running, new["messageId"]) == "queued"
    queue = (await running.api.get(f"/api/sessions/{sid}/queue")).json()
    assert queue["nextSendAt"] >= clock.now() + 30
    assert queue["waiting"]["reason"] == "reach_out" and "new contacts wait until" in queue["waiting"]["text"]
    await eventually(lambda: _is(status_of(running, new["messageId"]), "sent"), timeout=15)


async def test_a_waiting_queue_says_why_in_words(start_service, sim) -> None:
    running = await start_service(SIM_URL=sim.url, TIMEZONE="Asia/Jerusalem")
    zone = ZoneInfo("Asia/Jerusalem")
    hour = (datetime.now(zone) + timedelta(hours=2)).hour
    later = {**FAST, "perMinute": 1, "hoursStart": f"{hour:02d}:00", "hoursEnd": f"{(hour + 1) % 24:02d}:00"}
    assert (await running.api.put("/api/trust-tiers", json={"tiers": [later]})).status_code == 200
    sid = await connected_session(running, sim.url)
    first = (
        await running.api.post("/api/v1/send", json={"to": "+972522222222", "message": "one", "sessionId": sid})
    ).json()
    queue = (await running.api.get(f"/api/sessions/{sid}/queue")).json()
    conforms("GET", "/api/sessions/{id}/queue", await running.api.get(f"/api/sessions/{sid}/queue"))
    assert queue["waiting"] == {
        "reason": "hours",
        "text": f"outside active hours {hour:02d}:00-{(hour + 1) % 24:02d}:00 "
        f"(Asia/Jerusalem): opens {hour:02d}:00" + (" tomorrow" if hour < 2 else ""),
    }
    assert (await running.api.put("/api/trust-tiers", json={"tiers": [{**FAST, "perMinute": 1}]})).status_code == 200
    await eventually(lambda: _is(status_of(running, first["messageId"]), "sent"), timeout=10)
    await running.api.post("/api/v1/send", json={"to": "+972522222222", "message": "two", "sessionId": sid})
    queue = (await running.api.get(f"/api/sessions/{sid}/queue")).json()
    assert queue["waiting"] == {"reason": "per_minute", "text": "per-minute cap: 1 sent in the last minute"}
    assert queue["nextSendAt"] > time.time() + 50
    log = [entry.text for entry in await running.core.activity.latest(100) if entry.session == sid]
    assert f"{first['messageId']} to +972522222222 sent" in log  # a sent message shows in the log pane too
