"""The health score: each part counted from what really happened to a session (its failed sends to numbers not
on WhatsApp, the recipients who wrote back, disconnects, a temporary ban, a breaker trip), shown in the API with
its parts, in /metrics, and used by distribution; the formula itself on known counts."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
from support import RunningService, conforms, eventually
from test_breaker import send, unregistered
from test_sending import FAST, PHONE, _is, connected_session, status_of

from waorch.clock import ScaledClock
from waorch.core.account_health import Observed, assess, window_days
from waorch.core.tiers import DAY_S, DEFAULT_TIERS

RECIPIENTS = [f"9725230000{n:02d}" for n in range(10)]
NOT_ON_WHATSAPP = ["972527000001", "972527000002"]


def observed(first_connected: float = 0.0, **counts: int) -> Observed:
    zero = dict.fromkeys(
        ("sent", "failed", "unknown", "new_contacts", "awaited", "replied", "disconnects", "bans", "breaker_trips"), 0
    )
    return Observed("worker_1", first_connected, "", {**zero, **counts})


def penalties(seen: Observed, now: float = 100 * DAY_S) -> dict[str, int]:
    return {part.name: part.penalty for part in assess(seen, DEFAULT_TIERS, now).parts}


def test_a_new_session_loses_only_its_tier_points() -> None:
    report = assess(observed(), DEFAULT_TIERS, 100 * DAY_S)
    assert (report.score, report.grade) == (80, "good")
    assert report.parts[0].detail == "cold, never connected"
    hot = assess(observed(first_connected=60 * DAY_S), DEFAULT_TIERS, 100 * DAY_S)
    assert hot.score == 100 and hot.parts[0].detail == "hot, connected 40 days ago"
    warm = penalties(observed(first_connected=90 * DAY_S))
    assert warm["tier"] == 10  # the middle of three tiers


def test_each_part_takes_what_the_formula_says() -> None:
    seen = observed(
        60 * DAY_S,
        sent=90,
        failed=10,
        new_contacts=90,
        awaited=20,
        replied=2,
        disconnects=2,
        bans=1,
        breaker_trips=1,
    )
    assert penalties(seen) == {
        "tier": 0,
        "failures": 10,  # 10 % of the sends failed
        "replies": 10,  # a 10 % answer rate: two thirds of the way from 30 % down to none
        "new_contacts": 15,  # every one reached was a stranger
        "disconnects": 6,
        "bans": 15,
        "breaker": 10,
    }
    report = assess(seen, DEFAULT_TIERS, 100 * DAY_S)
    assert (report.score, report.grade) == (34, "poor")


def test_too_few_sends_are_not_judged_and_every_part_has_a_most() -> None:
    few = penalties(observed(sent=4, failed=5, new_contacts=4, awaited=9))
    assert (few["failures"], few["replies"], few["new_contacts"]) == (0, 0, 0)
    worst = assess(
        observed(failed=100, sent=10, new_contacts=10, awaited=50, disconnects=40, bans=9, breaker_trips=9),
        DEFAULT_TIERS,
        100 * DAY_S,
    )
    assert all(part.penalty == part.most for part in worst.parts)
    assert (worst.score, worst.grade) == (0, "poor")


def test_the_window_is_seven_calendar_days_across_a_short_day() -> None:
    new_york = ZoneInfo("America/New_York")  # 2026-03-08 has 23 hours
    just_after = datetime(2026, 3, 9, 0, 30, tzinfo=new_york).timestamp()
    assert window_days(just_after, new_york) == [f"2026-03-0{day}" for day in range(9, 2, -1)]


async def write_to(sim_url: str, sender: str, text: str) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        answer = await client.post(f"{sim_url}/sim/phones/{PHONE}/incoming", json={"from": sender, "text": text})
        assert answer.is_success


async def sim_call(sim_url: str, path: str, body: dict | None = None) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        assert (await client.post(f"{sim_url}{path}", json=body or {})).is_success


async def health_of(running: RunningService, sid: str) -> dict:
    answer = await running.api.get(f"/api/sessions/{sid}/health")
    conforms("GET", "/api/sessions/{id}/health", answer)
    return answer.json()


async def test_what_happens_to_a_session_shows_in_its_score_and_parts(start_service, sim_factory) -> None:
    clock = ScaledClock(20)  # typing before each send and the simulated ban pass 20 times faster
    sim = await sim_factory(clock=clock, qr_first_ttl=30, qr_ttl=10)
    running = await start_service(clock=clock, SIM_URL=sim.url, BREAKER_THRESHOLD="3")
    assert (await running.api.put("/api/trust-tiers", json={"tiers": [FAST]})).status_code == 200
    sid = await connected_session(running, sim.url)
    assert (await health_of(running, sid))["score"] == 100
    ids = [await send(running, sid, to, f"hello {to}") for to in RECIPIENTS]
    for message_id in ids:
        await eventually(lambda m=message_id: _is(status_of(running, m), "sent"), timeout=20)
    await write_to(sim.url, RECIPIENTS[0], "thanks!")
    await write_to(sim.url, RECIPIENTS[0], "again")  # one recipient's reply counts once
    await write_to(sim.url, "972529999999", "a stranger writes")  # not one it wrote to
    for phone in NOT_ON_WHATSAPP:
        await unregistered(sim.url, phone)
    for message_id in [await send(running, sid, to, "to nobody") for to in NOT_ON_WHATSAPP]:
        await eventually(lambda m=message_id: _is(status_of(running, m), "failed"), timeout=10)

    async def tripped() -> bool:
        return bool((await running.core.store.get(sid)).breaker_until)

    await eventually(tripped, timeout=10)  # two numbers not on WhatsApp weigh 4
    before_drop = running.core.clock.now()
    await sim_call(sim.url, f"/sim/phones/{PHONE}/disconnect")

    async def reconnected_after(since: float) -> bool:
        session = await running.core.store.get(sid)
        return session.status == "connected" and session.connected_since > since

    await eventually(lambda: reconnected_after(before_drop), timeout=20)
    before_ban = running.core.clock.now()
    await sim_call(sim.url, f"/sim/phones/{PHONE}/ban", {"seconds": 0.5})
    await eventually(lambda: reconnected_after(before_ban), timeout=30)

    async def all_counted() -> dict | None:
        body = await health_of(running, sid)
        parts = {part["name"]: part for part in body["parts"]}
        return body if parts["bans"]["penalty"] and parts["disconnects"]["penalty"] else None

    body = await eventually(all_counted, timeout=10)
    parts = {part["name"]: (part["penalty"], part["detail"]) for part in body["parts"]}
    assert parts == {
        "tier": (0, "fast, connected 0 days ago"),
        "failures": (17, "2 of 12 sends failed"),
        "replies": (10, "1 of 10 recipients wrote back within 24 h"),
        "new_contacts": (15, "10 of 10 sends went to new contacts"),
        "disconnects": (3, "1 disconnects"),
        "bans": (15, "1 temporary bans"),
        "breaker": (10, "1 breaker trips"),
    }
    assert (body["score"], body["grade"], body["days"]) == (30, "poor", 7)
    session = (await running.api.get(f"/api/sessions/{sid}")).json()
    assert session["health"] == {"score": 30, "grade": "poor"}
    listed = (await running.api.get("/api/sessions")).json()["sessions"]
    assert [entry["health"] for entry in listed] == [{"score": 30, "grade": "poor"}]
    metrics = (await running.api.get("/metrics")).text
    assert f'waorch_session_health{{session="{sid}"}} 30.0' in metrics
    assert f'waorch_session_health_penalty{{part="bans",session="{sid}"}} 15.0' in metrics


async def test_the_health_of_a_session_that_does_not_exist_is_a_404(start_service) -> None:
    running = await start_service()
    answer = await running.api.get("/api/sessions/worker_404/health")
    conforms("GET", "/api/sessions/{id}/health", answer)
    assert answer.status_code == 404 and answer.json()["error"] == "SESSION_NOT_FOUND"


async def test_distribution_prefers_the_healthier_session_over_more_room(start_service, sim) -> None:
    running = await start_service(SIM_URL=sim.url)
    assert (await running.api.put("/api/trust-tiers", json={"tiers": [FAST]})).status_code == 200
    banned = await connected_session(running, sim.url, "972501111111")
    healthy = await connected_session(running, sim.url, "972503333333")
    first = await send(running, healthy, "972524444444", "uses one of its day's room")
    await eventually(lambda: _is(status_of(running, first), "sent"), timeout=10)
    since = running.core.clock.now()
    await sim_call(sim.url, "/sim/phones/972501111111/ban", {"seconds": 0.5})

    async def back(sid: str) -> bool:
        session = await running.core.store.get(sid)
        return session.status == "connected" and session.connected_since > since

    await eventually(lambda: back(banned), timeout=30)
    assert (await health_of(running, banned))["score"] == 85
    answer = await running.api.post("/api/v1/send", json={"to": "+972525555555", "message": "to whom?"})
    assert answer.status_code == 202 and answer.json()["sessionId"] == healthy
