"""Anti-ban pacing, checked on what the simulator actually delivered (its own log, with times).

Hypothesis draws tiers, active hours and arrival patterns; the whole pipeline runs for real
(API, Redis, dispatcher, worker process, simulator) on a clock 60 times faster than real time,
shared by the core and the simulator. One test at the end runs in real time.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import (
    RunningService,
    both_worker_modes,  # noqa: F401  (the fixture: both worker modes)
    eventually,
)
from test_sending import connected_session

from waorch.clock import ScaledClock
from waorch.core.messages import MessageStatus

PHONE = "972501111111"
SCALE = 60.0


def hhmm(moment: datetime) -> str:
    return moment.strftime("%H:%M")


@st.composite
def scenarios(draw: st.DrawFn) -> dict:
    delay_min = draw(st.integers(0, 6000))
    return {
        "per_minute": draw(st.integers(1, 5)),
        "daily": draw(st.integers(1, 12)),
        "delay_min": delay_min,
        "delay_max": delay_min + draw(st.integers(0, 4000)),
        "opens_in_minutes": draw(st.integers(0, 1)),
        "window_minutes": draw(st.integers(1, 3)),
        "bursts": draw(st.lists(st.tuples(st.floats(0, 90), st.integers(1, 4)), min_size=1, max_size=4)),
    }


async def sim_log(sim_url: str) -> list[dict]:
    async with httpx.AsyncClient(trust_env=False) as client:
        return (await client.get(f"{sim_url}/sim/phones/{PHONE}/messages")).json()


def check_properties(
    entries: list[dict], accepted: list[str], scenario: dict, opens: datetime, closes: datetime
) -> None:
    times = [entry["at"] for entry in entries]
    assert [e["messageId"] for e in entries] == accepted[: len(entries)], "FIFO per session"
    for at in times:
        assert opens.timestamp() <= at < closes.timestamp(), "inside active hours"
        assert sum(at <= other < at + 60 for other in times) <= scenario["per_minute"], "sliding per-minute cap"
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(gap >= scenario["delay_min"] / 1000 for gap in gaps), (
        f"minimum delay {scenario['delay_min']} ms, gaps {gaps}"
    )
    assert len(entries) <= scenario["daily"], "daily limit"


@pytest.fixture
async def rehearsal(start_service, sim_factory) -> tuple[RunningService, str, str, ScaledClock]:
    clock = ScaledClock(SCALE)
    sim = await sim_factory(clock=clock, qr_first_ttl=60, qr_ttl=20)
    running = await start_service(clock=clock, SIM_URL=sim.url, TIMEZONE="UTC")
    session = await connected_session(running, sim.url, PHONE)
    return running, session, sim.url, clock


@pytest.mark.timeout(300)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios())
async def test_deliveries_respect_the_tier(rehearsal, scenario: dict) -> None:
    running, session, sim_url, clock = rehearsal
    already = len(await sim_log(sim_url))
    now = datetime.fromtimestamp(clock.now(), running.settings.timezone)
    opens = (now + timedelta(minutes=1 + scenario["opens_in_minutes"])).replace(second=0, microsecond=0)
    closes = opens + timedelta(minutes=scenario["window_minutes"])
    tier = {
        "name": "t",
        "minAgeDays": 0,
        "dailyLimit": scenario["daily"],
        "perMinute": scenario["per_minute"],
        "delayMinMs": scenario["delay_min"],
        "delayMaxMs": scenario["delay_max"],
        "hoursStart": hhmm(opens),
        "hoursEnd": hhmm(closes),
    }
    assert (await running.api.put("/api/trust-tiers", json={"tiers": [tier]})).status_code == 200
    await running.core.redis.delete(
        *[k for k in await running.core.redis.keys(f"waorch:count:{session}:*")] or ["none"]
    )
    accepted: list[str] = []
    start = clock.now()
    for offset, count in sorted(scenario["bursts"]):
        await clock.sleep(start + offset - clock.now())
        for _ in range(count):
            answer = await running.api.post(
                "/api/v1/send", json={"to": "+972522222222", "message": f"m{len(accepted)}", "sessionId": session}
            )
            if answer.status_code == 429:
                continue
            assert answer.status_code == 202
            accepted.append(answer.json()["messageId"])
    await clock.sleep(closes.timestamp() - clock.now() + 5)
    entries = (await sim_log(sim_url))[already:]
    check_properties(entries, accepted, scenario, opens, closes)
    statuses = [(await running.api.get(f"/api/v1/messages/{m}")).json()["status"] for m in accepted]
    assert statuses.count("sent") == len(entries)
    assert len(entries) >= min(len(accepted), 1), "the window opened, so at least one went out"
    assert set(statuses) <= {"sent", "queued"}, "held outside hours, not failed"
    # Leave nothing waiting for the next example.
    await running.core.set_paused(session, True)
    for message_id in await running.core.redis.lrange(f"waorch:queue:{session}", 0, -1):
        await running.core.messages.finish(
            session, message_id, clock.now(), MessageStatus.FAILED, "x", error="test cleanup"
        )
    await running.core.set_paused(session, False)


@pytest.mark.timeout(150)
async def test_real_time_pacing(start_service, sim) -> None:
    """The slow one: real seconds, real minute window."""
    running = await start_service()
    tier = {
        "name": "slow",
        "minAgeDays": 0,
        "dailyLimit": 10,
        "perMinute": 2,
        "delayMinMs": 1000,
        "delayMaxMs": 1500,
        "hoursStart": "00:00",
        "hoursEnd": "24:00",
    }
    assert (await running.api.put("/api/trust-tiers", json={"tiers": [tier]})).status_code == 200
    session = await connected_session(running, sim.url, PHONE)
    ids = [
        (
            await running.api.post(
                "/api/v1/send", json={"to": "+972522222222", "message": f"r{n}", "sessionId": session}
            )
        ).json()["messageId"]
        for n in range(3)
    ]

    async def three() -> list[dict] | None:
        entries = await sim_log(sim.url)
        return entries if len(entries) == 3 else None

    entries = await eventually(three, timeout=100, interval=0.5)
    times = [e["at"] for e in entries]
    assert [e["messageId"] for e in entries] == ids
    assert times[1] - times[0] >= 1.0
    assert times[2] - times[0] >= 60.0  # the third waits for the sliding minute of the first
    assert not math.isinf(times[2])
