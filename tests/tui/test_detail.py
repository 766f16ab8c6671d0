"""The session screen: progress until the QR, keys acting on its session, pairing code, history."""

from __future__ import annotations

import re

import httpx
import pytest
from socks_recorder import RelayingSocks
from textual.widgets import Input
from tui_support import new_session, text_of, until

from waorch.core.lifecycle import worker_log_path
from waorch.tui.app import ControlRoom
from waorch.tui.detail import DetailScreen
from waorch.tui.forms import Form
from waorch.tui.modals import Confirm
from waorch.tui.sessions_table import SessionsTable
from waorch.worker.connect_failures import KINDS

NEXT_ATTEMPT = re.compile(r"next attempt in \d+ s \(restart \d+; more than 5 in 10 min: failed\)")


async def test_pairing_code_from_the_session_screen_links_the_phone(control_room, sim) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        session = await new_session(app)
        table = app.screen.query_one(SessionsTable)
        await until(pilot, lambda: session.id in table.rows)
        await pilot.press("enter")
        await until(pilot, lambda: "Expires in" in text_of(app, "#qr-notice"))
        assert (await app.reader.store.get(session.id)).command_url
        await pilot.press("c")
        form = await until(pilot, lambda: app.screen if isinstance(app.screen, Form) else None)
        form.query_one("#phone", Input).value = "+972 50-111-1111"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.pairing_code)
        code = app.screen.pairing_code
        assert len(code) == 9 and code[4] == "-"
        await until(pilot, lambda: code in text_of(app, "#summary"))
        async with httpx.AsyncClient(trust_env=False) as client:
            linked = await client.post(f"{sim.url}/sim/link-code", json={"phone": "972501111111", "code": code})
        assert linked.status_code == 200
        await until(pilot, lambda: "status   connected" in text_of(app, "#summary"))
        assert "Status: connected" in text_of(app, "#qr-notice")
        assert "status=connected" in text_of(app, "#history") and "pairing_code" in text_of(app, "#history")


async def test_the_session_screen_shows_its_health_score_and_what_takes_points_away(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        session = await new_session(app)
        app.open_detail(session.id)
        await until(pilot, lambda: "health   80 (good)" in text_of(app, "#summary"))
        assert "-20 tier: cold, never connected" in text_of(app, "#summary")


async def test_delete_from_the_session_screen_goes_back_to_the_table(control_room) -> None:
    async with control_room() as pilot:
        app: ControlRoom = pilot.app
        session = await new_session(app)
        app.open_detail(session.id)
        await until(pilot, lambda: session.id in text_of(app, "#summary"))
        await pilot.press("ctrl+d")
        confirm = await until(pilot, lambda: app.screen if isinstance(app.screen, Confirm) else None)
        assert session.id in confirm.question
        await pilot.click("#ok")
        await until(pilot, lambda: not isinstance(app.screen, DetailScreen | Confirm))
        assert await app.reader.store.find(session.id) is None


@pytest.mark.timeout(90)
async def test_a_failed_login_says_what_failed_what_to_check_where_the_log_is_and_when_it_tries_again(
    control_room, not_whatsapp: RelayingSocks
) -> None:
    async with control_room(
        WORKER_ENGINE="neonize", PROXY_URL_1=not_whatsapp.url(), WATCHDOG_INTERVAL_MS="600000"
    ) as pilot:
        app: ControlRoom = pilot.app
        session = await new_session(app)
        app.open_detail(session.id)
        await until(pilot, lambda: NEXT_ATTEMPT.search(text_of(app, "#summary")), timeout=60)
        summary = text_of(app, "#summary")
        assert "status   disconnected" in summary
        assert (
            "reason   tls: the secure connection to WhatsApp failed (TLS): tls: first record does not look" in summary
        )
        notice = text_of(app, "#qr-notice")
        assert f"Hint: {KINDS['tls'].check}" in notice
        assert f"The worker's log: {app.reader.worker_log(session.id)}" in notice
        assert (
            "first record does not look like a TLS handshake"
            in worker_log_path(app.reader.settings, session.id).read_text()
        )
