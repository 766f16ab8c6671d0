"""The core tells time by the clock it was built with: every time it stores and shows is that clock's.

A rehearsal runs the core on a ``ScaledClock``; here one that starts years ahead, so a time read
from the machine's clock instead (a session's creation, its history, a ping, the activity log,
a received message, a forwarded event) stands out.
"""

from __future__ import annotations

from datetime import UTC, datetime

from event_receiver import EventReceiver
from support import RunningService, eventually
from test_redis_growth import sim_incoming
from test_sending import FAST, connected_session, delivered

from waorch.clock import ScaledClock

AHEAD = datetime(2031, 3, 4, 12, 0, tzinfo=UTC).timestamp()


def session_times(session: dict) -> list[float]:
    times = [session[name] for name in ("created", "connectedSince", "firstConnected", "lastPing")]
    return times + [entry["at"] for entry in session["history"]]


async def test_every_time_the_core_keeps_is_its_clocks(start_service, sim_factory, receiver: EventReceiver) -> None:
    clock = ScaledClock(1.0, start=AHEAD)
    sim = await sim_factory(clock=clock, qr_first_ttl=30, qr_ttl=10)
    running: RunningService = await start_service(
        clock=clock, SIM_URL=sim.url, TIMEZONE="UTC", EVENTS_WEBHOOK_URL=receiver.url
    )
    api = running.api
    assert (await api.put("/api/trust-tiers", json={"tiers": [FAST]})).status_code == 200
    sid = await connected_session(running, sim.url)
    send = {"to": "+972522222222", "message": "hi", "sessionId": sid}
    message_id = (await api.post("/api/v1/send", json=send)).json()["messageId"]
    await eventually(lambda: delivered(sim.url))
    await sim_incoming(sim.url, "972501111111", "hello")
    [incoming] = await eventually(lambda: running.core.inbox.page(sid, 10))

    async def sent() -> dict | None:
        body = (await api.get(f"/api/v1/messages/{message_id}")).json()
        return body if body["status"] == "sent" else None

    message = await eventually(sent)
    forwarded = await receiver.wait_for(1, "message")
    times = session_times((await api.get(f"/api/sessions/{sid}")).json())
    times += [message[name] for name in ("created", "startedAt", "finishedAt", "sentAt")]
    times += [entry.ts for entry in await running.core.activity.latest(100)]
    times += [incoming["receivedAt"], forwarded[0]["timestamp"] / 1000]
    assert all(AHEAD <= at <= clock.now() for at in times), [at for at in times if not AHEAD <= at <= clock.now()]
