"""The caps of one recipient: new contacts a day, messages to one recipient an hour and in 24 hours.

The rule itself (``pacing.recipient_hold``) on chosen times; then end to end (API, Redis, dispatcher, worker,
simulator): a message such a cap holds lets later messages to other recipients pass while its recipient's own
keep their order, the queue says which cap holds what until when, a sender who wrote first is no new contact,
the caps hold across an orchestrator restart, and distribution prefers a session the recipient knows."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from support import RunningService, conforms, eventually, orchestrator, wait_status
from test_sending import FAST, PHONE, _is, connected_session, delivered, status_of

from waorch.core.pacing import Hold, ToRecipient, next_midnight, recipient_hold
from waorch.core.tiers import DEFAULT_TIERS

ZONE = ZoneInfo("UTC")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=ZONE).timestamp()
TIER = replace(DEFAULT_TIERS[0], new_contacts_per_day=2, per_recipient_hour=2, per_recipient_day=3)
X, Y, Z = "972523333333", "972524444444", "972525555555"


def test_a_recipient_under_its_caps_is_not_held() -> None:
    assert recipient_hold(NOW, TIER, ZONE, ToRecipient(True, 9, (NOW - 90_000, NOW - 4000))) == Hold(NOW)
    assert recipient_hold(NOW, TIER, ZONE, ToRecipient(False, 1, ())) == Hold(NOW)


def test_the_hourly_and_the_daily_cap_slide_with_the_sends() -> None:
    hourly = recipient_hold(NOW, TIER, ZONE, ToRecipient(True, 0, (NOW - 3000, NOW - 100)))
    assert hourly == Hold(NOW + 600, "per_recipient_hour", "per-recipient cap: 2 of 2 an hour")
    daily = recipient_hold(NOW, TIER, ZONE, ToRecipient(True, 0, (NOW - 80_000, NOW - 50_000, NOW - 7200)))
    assert daily == Hold(NOW + 6400, "per_recipient_day", "per-recipient cap: 3 of 3 in 24 h")


def test_a_new_contact_over_the_days_cap_waits_for_midnight_a_known_one_does_not() -> None:
    held = recipient_hold(NOW, TIER, ZONE, ToRecipient(False, 2, ()))
    assert (held.at, held.reason) == (next_midnight(NOW, ZONE), "new_contacts")
    assert held.text == "new-contact cap: 2 of 2 new contacts today; more after midnight"
    assert recipient_hold(NOW, TIER, ZONE, ToRecipient(True, 2, ())) == Hold(NOW)


def test_a_cap_of_zero_allows_none() -> None:
    closed = replace(TIER, new_contacts_per_day=0, per_recipient_hour=0)
    assert recipient_hold(NOW, closed, ZONE, ToRecipient(True, 0, ())).at == math.inf
    assert recipient_hold(NOW, replace(TIER, new_contacts_per_day=0), ZONE, ToRecipient(False, 0, ())).at == math.inf


def capped(**caps: int) -> dict:
    return {**FAST, "newContactsPerDay": 1000, "perRecipientPerHour": 1000, "perRecipientPerDay": 1000, **caps}


async def send(running: RunningService, sid: str | None, to: str, text: str) -> str:
    body = {"to": f"+{to}", "message": text} | ({"sessionId": sid} if sid else {})
    answer = await running.api.post("/api/v1/send", json=body)
    assert answer.status_code == 202, answer.text
    return answer.json()["messageId"]


async def delivered_texts(sim_url: str, count: int, phone: str = PHONE) -> list[tuple[str, str]]:
    """``(to, text)`` of the first ``count`` messages the phone sent, once it sent that many."""

    async def enough() -> list[dict] | None:
        log = await delivered(sim_url, phone)
        return log if len(log) >= count else None

    return [(entry["to"], entry["text"]) for entry in (await eventually(enough, timeout=20))[:count]]


async def test_a_recipient_at_its_cap_lets_the_others_pass_and_keeps_its_own_order(scaled) -> None:
    running, sim = scaled
    assert (
        await running.api.put("/api/trust-tiers", json={"tiers": [capped(perRecipientPerHour=2)]})
    ).status_code == 200
    sid = await connected_session(running, sim.url)
    ids = {text: await send(running, sid, to, text) for to, text in [(X, "x1"), (X, "x2"), (X, "x3"), (Y, "y1")]}
    ids |= {text: await send(running, sid, to, text) for to, text in [(X, "x4"), (Y, "y2")]}
    assert await delivered_texts(sim.url, 4) == [(X, "x1"), (X, "x2"), (Y, "y1"), (Y, "y2")]
    response = await running.api.get(f"/api/sessions/{sid}/queue")
    conforms("GET", "/api/sessions/{id}/queue", response)
    queue = response.json()
    assert [m["messageId"] for m in queue["held"]] == [ids["x3"], ids["x4"]]
    first_sent = (await running.api.get(f"/api/v1/messages/{ids['x1']}")).json()
    for held in queue["held"]:
        assert (held["reason"], held["text"]) == ("per_recipient_hour", "per-recipient cap: 2 of 2 an hour")
        assert first_sent["sentAt"] + 3600 <= held["until"] <= first_sent["sentAt"] + 3600 + 5
    assert queue["next"] == ids["x3"] and queue["waiting"]["reason"] == "per_recipient_hour"
    assert [await status_of(running, ids[text]) for text in ("x3", "x4")] == ["queued", "queued"]
    # A message to another recipient that arrives now goes at once, past the held ones.
    late = await send(running, sid, Z, "z1")
    await eventually(lambda: _is(status_of(running, late), "sent"), timeout=10)
    assert await status_of(running, ids["x3"]) == "queued"


async def test_new_contacts_a_day_a_known_contact_and_one_who_wrote_first_are_not_new(scaled) -> None:
    running, sim = scaled
    assert (await running.api.put("/api/trust-tiers", json={"tiers": [capped(newContactsPerDay=1)]})).status_code == 200
    sid = await connected_session(running, sim.url)
    first = await send(running, sid, X, "new one")
    await eventually(lambda: _is(status_of(running, first), "sent"), timeout=10)
    over = await send(running, sid, Y, "a second new one")
    async with httpx.AsyncClient(trust_env=False) as client:  # Z writes first: a contact, not a new one
        assert (await client.post(f"{sim.url}/sim/phones/{PHONE}/incoming", json={"from": Z, "text": "hi"})).is_success
    await eventually(lambda: _inbox_has(running, sid, Z), timeout=10)
    answers = [await send(running, sid, Z, "reply"), await send(running, sid, X, "known now")]
    assert await delivered_texts(sim.url, 3) == [(X, "new one"), (Z, "reply"), (X, "known now")]
    for message_id in answers:
        await eventually(lambda m=message_id: _is(status_of(running, m), "sent"), timeout=10)
    queue = (await running.api.get(f"/api/sessions/{sid}/queue")).json()
    assert queue["newContacts"] == {"used": 1, "limit": 1}
    [held] = queue["held"]
    midnight = next_midnight(running.core.clock.now(), running.settings.timezone)
    assert (held["messageId"], held["reason"], held["until"]) == (over, "new_contacts", midnight)
    assert await status_of(running, over) == "queued"


async def _inbox_has(running: RunningService, sid: str, sender: str) -> bool:
    page = (await running.api.get(f"/api/sessions/{sid}/messages")).json()
    return any(message["from"] == sender for message in page["messages"])


async def test_the_caps_hold_across_an_orchestrator_restart(make_settings, sim) -> None:
    settings = make_settings(SIM_URL=sim.url)
    async with orchestrator(settings, stop_workers=False) as running:
        tiers = {"tiers": [capped(perRecipientPerHour=1, newContactsPerDay=2)]}
        assert (await running.api.put("/api/trust-tiers", json=tiers)).status_code == 200
        sid = await connected_session(running, sim.url)
        for to in (X, Y):
            message_id = await send(running, sid, to, "before")
            await eventually(lambda m=message_id: _is(status_of(running, m), "sent"), timeout=10)
    async with orchestrator(settings, stop_workers=True) as running:  # the orchestrator restarts
        await wait_status(running.api, sid, "connected", timeout=20)
        again = await send(running, sid, X, "again")  # its recipient's hourly cap
        third = await send(running, sid, Z, "a third new contact")  # the day's new contacts
        known = await send(running, sid, Y, "too soon too")
        queue = await eventually(lambda: _held(running, sid, 3), timeout=10)
        assert {held["messageId"]: held["reason"] for held in queue["held"]} == {
            again: "per_recipient_hour",
            third: "new_contacts",
            known: "per_recipient_hour",
        }
        assert len(await delivered(sim.url)) == 2


async def _held(running: RunningService, sid: str, count: int) -> dict | None:
    queue = (await running.api.get(f"/api/sessions/{sid}/queue")).json()
    return queue if len(queue["held"]) == count else None


@pytest.mark.parametrize("writes_to", [0, 1])
async def test_distribution_prefers_a_session_the_recipient_knows(scaled, writes_to: int) -> None:
    running, sim = scaled
    assert (await running.api.put("/api/trust-tiers", json={"tiers": [capped()]})).status_code == 200
    phones = [PHONE, "972501111112"]
    sids = [await connected_session(running, sim.url, phone) for phone in phones]
    async with httpx.AsyncClient(trust_env=False) as client:
        sent = await client.post(f"{sim.url}/sim/phones/{phones[writes_to]}/incoming", json={"from": Z, "text": "hi"})
        assert sent.is_success
    await eventually(lambda: _inbox_has(running, sids[writes_to], Z), timeout=10)
    message_id = await send(running, None, Z, "to whoever knows them")
    assert (await running.api.get(f"/api/v1/messages/{message_id}")).json()["sessionId"] == sids[writes_to]
