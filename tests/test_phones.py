"""One account, one phone, however it is written: every number goes through one parser."""

from __future__ import annotations

import httpx
import pytest
from support import RunningService, scan, wait_status

from waorch.api.statuses import status_of
from waorch.errors import InvalidPhone
from waorch.phones import parse_phone

ONE_ACCOUNT = ["+972 50-234-5678", "+972502345678", "00972502345678", "972502345678", "972 (50) 234 5678"]


@pytest.mark.parametrize("written", ONE_ACCOUNT)
def test_an_international_number_is_read_the_same_with_or_without_a_region(written: str) -> None:
    assert parse_phone(written, None) == parse_phone(written, "IL") == parse_phone(written, "US") == "972502345678"


def test_a_national_number_needs_the_default_region_and_the_error_says_so() -> None:
    assert parse_phone("050-234-5678", "IL") == "972502345678"
    assert parse_phone("030 1234567", "DE") == "49301234567"
    assert parse_phone("(202) 555-0143", "US") == "12025550143"
    for _ in range(2):  # a refusal is not cached as an answer
        with pytest.raises(InvalidPhone, match=r"with \+ and the country code.*DEFAULT_REGION") as refused:
            parse_phone("050-234-5678", None, field="to")
    assert (
        status_of(refused.value) == 400
        and refused.value.code == "INVALID_PHONE"
        and "to is not" in refused.value.message
    )


def test_recipients_must_be_valid_and_accounts_possible() -> None:
    with pytest.raises(InvalidPhone, match="not a valid phone number"):
        parse_phone("+1 555", None)
    with pytest.raises(InvalidPhone):
        parse_phone("+972 12", None, valid_only=False)
    assert parse_phone("+972501111111", None, valid_only=False) == "972501111111"  # the simulator's inventions
    for bad in (None, "", "  ", 972501111111, "not a phone"):
        with pytest.raises(InvalidPhone):
            parse_phone(bad, "IL", valid_only=False)


async def test_one_account_written_three_ways_is_one_phone(start_service, sim, socks_proxy) -> None:
    running: RunningService = await start_service(
        DEFAULT_REGION="IL",
        SIM_URL=sim.url,
        MAX_SESSIONS_PER_PHONE="2",
        PROXY_URL_1=socks_proxy().url,
        PROXY_URL_2=socks_proxy().url,
    )
    api = running.api
    first = (await api.post("/api/sessions/provision", json={"phone": "050-234-5678"})).json()
    second = (await api.post("/api/sessions/provision", json={"phone": "+972 50 234 5678"})).json()
    assert first["phone"] == second["phone"] == "972502345678"
    assert first["proxyId"] == second["proxyId"]  # the phone's sticky proxy, not a second one
    third = await api.post("/api/sessions/provision", json={"phone": "00972502345678"})
    assert third.status_code == 409 and third.json()["error"] == "PHONE_LIMIT"  # the same phone, counted once
    national = await api.post(
        "/api/v1/send", json={"to": "052-222-2222", "message": "hi", "sessionId": first["sessionId"]}
    )
    assert national.status_code == 202
    ready = await wait_status(api, first["sessionId"], "qr_ready")
    assert (await scan(sim.url, ready["qr"], "+972 50-234-5678")).status_code == 200  # the simulator reads it the same
    connected = await wait_status(api, first["sessionId"], "connected")
    assert connected["phone"] == "972502345678"


async def test_a_national_number_without_a_region_is_a_400_that_says_how_to_fix_it(start_service, sim) -> None:
    running: RunningService = await start_service(SIM_URL=sim.url)
    answer = await running.api.post("/api/sessions/provision", json={"phone": "050-234-5678"})
    assert answer.status_code == 400 and answer.json()["error"] == "INVALID_PHONE"
    assert "DEFAULT_REGION" in answer.json()["message"] and "+972501234567" in answer.json()["message"]
    assert (await running.api.get("/api/sessions")).json()["sessions"] == []
    async with httpx.AsyncClient(trust_env=False) as client:
        refused = await client.post(f"{sim.url}/sim/unregistered", json={"phone": "050-234-5678"})
    assert refused.status_code == 400 and "DEFAULT_REGION" in refused.text
