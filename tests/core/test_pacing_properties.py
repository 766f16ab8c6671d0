"""Anti-ban pacing, checked on what the simulator actually delivered (its own log, with times).

Hypothesis draws tiers, active hours and arrival patterns; the whole pipeline runs for real
(API, Redis, dispatcher, worker process, simulator) on a clock 60 times faster than real time,
shared by the core and the simulator. One test at the end runs in real time.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import (
    RunningService,
    both_worker_modes,  # noqa: F401  (the fixture: both worker modes)
    eventually,
    orchestrator,
)
from test_sending import FAST, connected_session

from waorch.clock import ScaledClock
from waorch.core.messages import MessageStatus

PHONE = "972501111111"
SCALE = 60.0
NO_CAPS = {"newContactsPerDay": 1000, "perRecipientPerHour": 1000, "perRecipientPerDay": 10000}


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


async def sim_log(sim_url: str, phone: str = PHONE) -> list[dict]:
    async with httpx.AsyncClient(trust_env=False) as client:
        return (await client.get(f"{sim_url}/sim/phones/{phone}/messages")).json()


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
        **NO_CAPS,
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
        **NO_CAPS,
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


# ---- the caps of one recipient, on what the simulator delivered ---------------------------------------------
RECIPIENT_SCALE = 600.0  # an hour in 6 s
RECIPIENTS = [f"97252444440{n}" for n in range(4)]
SEND_SPAN_S = 2400.0
EXAMPLE_PHONES = iter(f"9725019{n:05d}" for n in range(100_000))


@st.composite
def recipient_scenarios(draw: st.DrawFn) -> dict:
    hour = draw(st.integers(1, 3))
    return {
        "new_contacts": draw(st.integers(0, 3)),
        "hour": hour,
        "day": hour + draw(st.integers(0, 2)),
        "wrote_first": sorted(draw(st.sets(st.integers(0, 3), max_size=2))),
        "sends": sorted(
            draw(st.lists(st.tuples(st.floats(0, SEND_SPAN_S), st.integers(0, 3)), min_size=1, max_size=14))
        ),
        "restart_at": draw(st.none() | st.floats(0, SEND_SPAN_S)),
    }


def zone_far_from_midnight() -> str:
    """A zone whose local time is about 01:00 now: the example's simulated hours stay in one local day."""
    offset = (1 - datetime.now(UTC).hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"  # Etc/GMT-3 is UTC+3


def check_recipient_caps(entries: list[dict], accepted: dict[str, list[str]], scenario: dict) -> None:
    known = {RECIPIENTS[n] for n in scenario["wrote_first"]}
    for to, ids in accepted.items():
        to_them = [entry for entry in entries if entry["to"] == to]
        assert [entry["messageId"] for entry in to_them] == ids[: len(to_them)], "a recipient's messages in order"
        times = [entry["at"] for entry in to_them]
        for at in times:
            assert sum(at <= other < at + 3600 for other in times) <= scenario["hour"], "per recipient an hour"
            assert sum(at <= other < at + 86400 for other in times) <= scenario["day"], "per recipient in 24 h"
    new = {entry["to"] for entry in entries} - known
    assert len(new) <= scenario["new_contacts"], f"new contacts {sorted(new)} over {scenario['new_contacts']} a day"
    assert len({entry["messageId"] for entry in entries}) == len(entries), "each message delivered once"


@pytest.mark.timeout(300)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=recipient_scenarios())
async def test_deliveries_respect_the_recipient_caps_across_restarts(
    make_settings, sim_factory, redis, tmp_path, scenario: dict
) -> None:
    """Whatever the arrival pattern, and with the orchestrator restarted on the way: no recipient gets more
    than its caps allow, no day more new contacts, a recipient's messages go in order, each once, none lost."""
    await redis.flushall()  # each example: a fresh fleet (the previous one's orchestrator has stopped)
    clock = ScaledClock(RECIPIENT_SCALE)
    sim = await sim_factory(clock=clock, qr_first_ttl=3600, qr_ttl=1200)
    phone = next(EXAMPLE_PHONES)
    data = tmp_path / phone  # each example's own (a session's login data would outlive its simulator)
    settings = make_settings(SIM_URL=sim.url, TIMEZONE=zone_far_from_midnight(), DATA_DIR=str(data))
    tier = {**FAST, "newContactsPerDay": scenario["new_contacts"]}
    tier |= {"perRecipientPerHour": scenario["hour"], "perRecipientPerDay": scenario["day"]}
    accepted: dict[str, list[str]] = {to: [] for to in RECIPIENTS}
    restart = scenario["restart_at"]
    async with orchestrator(settings, stop_workers=False, clock=clock) as running:
        assert (await running.api.put("/api/trust-tiers", json={"tiers": [tier]})).status_code == 200
        session = await connected_session(running, sim.url, phone)
        await wrote_first(running, sim.url, phone, session, [RECIPIENTS[n] for n in scenario["wrote_first"]])
        start = clock.now()
        before = [(offset, n) for offset, n in scenario["sends"] if restart is None or offset < restart]
        await send_at(running, clock, start, session, before, accepted)
    async with orchestrator(settings, stop_workers=True, clock=clock) as running:
        after = scenario["sends"][len(before) :]
        await send_at(running, clock, start, session, after, accepted)
        await clock.sleep(start + SEND_SPAN_S + 3600 - clock.now())  # the hour after: held ones may go
        entries = await sim_log(sim.url, phone)
        check_recipient_caps(entries, accepted, scenario)
        statuses = {
            m: (await running.api.get(f"/api/v1/messages/{m}")).json()["status"]
            for ids in accepted.values()
            for m in ids
        }
        assert {m for m, status in statuses.items() if status == "sent"} == {e["messageId"] for e in entries}
        assert set(statuses.values()) <= {"sent", "queued"}, "held, never failed nor lost"


async def wrote_first(running: RunningService, sim_url: str, phone: str, session: str, senders: list[str]) -> None:
    """``senders`` write to the session's phone before it writes to anyone (they are its contacts then)."""
    async with httpx.AsyncClient(trust_env=False) as client:
        for sender in senders:
            assert (
                await client.post(f"{sim_url}/sim/phones/{phone}/incoming", json={"from": sender, "text": "hi"})
            ).is_success

    async def all_in() -> bool:
        page = (await running.api.get(f"/api/sessions/{session}/messages")).json()["messages"]
        return {message["from"] for message in page} >= set(senders)

    await eventually(all_in, timeout=15)


async def send_at(
    running: RunningService, clock: ScaledClock, start: float, session: str, sends: list, accepted: dict
) -> None:
    """Each ``(offset, recipient)`` of ``sends`` sent at ``start + offset`` (clock time)."""
    for offset, n in sends:
        await clock.sleep(start + offset - clock.now())
        body = {"to": f"+{RECIPIENTS[n]}", "message": f"m{sum(map(len, accepted.values()))}", "sessionId": session}
        answer = await running.api.post("/api/v1/send", json=body)
        assert answer.status_code == 202, answer.text
        accepted[RECIPIENTS[n]].append(answer.json()["messageId"])
