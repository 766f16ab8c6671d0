"""Snapshots of the main screens (pytest-textual-snapshot, Textual pinned): fixed sessions, a fixed clock.

The real control room runs without a core; each test stops its screen's live feed and hands the
screen fixed data through the same methods the feed uses (``redraw`` with rows, ``show`` with a
session and its history). A change on screen fails the test with an HTML diff report; accept a
deliberate change with ``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at the
SVG files under ``__snapshots__/``.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from tui_support import StillRoom

from waorch.config import Settings
from waorch.core.account_health import COUNTED, Observed, assess
from waorch.core.activity import Activity
from waorch.core.proxy_pool import ProxyInfo
from waorch.core.sessions import Session
from waorch.core.tiers import DAY_S, DEFAULT_TIERS
from waorch.tui.detail import DetailScreen, WorkerFacts
from waorch.tui.sessions_screen import SessionsScreen
from waorch.tui.snapshot import SessionRow
from waorch.worker.connect_failures import KINDS

NOW = 1767268800.0  # 2026-01-01 12:00:00 UTC, the screens' clock
SIZE = (150, 50)
ROWS = [
    SessionRow("worker_1", "972501111111", "connected", "hot", "127.0.0.1:1080", 3, 120, 500, 0, NOW - 4, 100),
    SessionRow("worker_2", "972502222222", "connected", "warm", "127.0.0.1:1080", 0, 57, 100, 1, NOW - 12, 72),
    SessionRow("worker_3", "", "qr_ready", "cold", "127.0.0.1:1081", 0, 0, 20, 0, NOW - 2, 80),
    SessionRow("worker_4", "972504444444", "disconnected", "warm", "127.0.0.1:1081", 12, 88, 100, 2, NOW - 340, 45),
    SessionRow("worker_5", "972505555555", "failed", "cold", "", 0, 3, 20, 5, NOW - 8000, 30),
    SessionRow("worker_6", "972506666666", "logged_out", "cold", "proxy.example:1080", 0, 0, 20, 0, NOW - 90, 80),
    SessionRow("worker_7", "", "starting", "cold", "", 0, 0, 20, 0, 0.0),
    SessionRow("worker_10", "972501010101", "stopped", "hot", "proxy.example:1080", 0, 410, 500, 0, NOW - 86400, 95),
]


def fixed_text(name: str, size: int) -> str:
    """``size`` bytes derived from ``name``, base64 (stands for a key in a QR payload)."""
    return base64.b64encode(hashlib.shake_256(name.encode()).digest(size)).decode()


# Shaped like WhatsApp's: ref, noise key, identity key, adv secret.
PAYLOAD = ",".join(
    ("2@" + fixed_text("ref", 66), fixed_text("noise", 32), fixed_text("identity", 32), fixed_text("adv", 32))
)
WAITING_SESSION = Session(
    "worker_3",
    status="qr_ready",
    proxy="px_0123456789",
    created=NOW - 30,
    qr=PAYLOAD,
    qr_expires=NOW + 42,
    last_ping=NOW - 2,
)
HISTORY = [
    {"at": NOW - 3, "kind": "status", "status": "qr_ready", "reason": ""},
    {"at": NOW - 5, "kind": "status", "status": "starting", "reason": ""},
    {"at": NOW - 6, "kind": "status", "status": "provisioning", "reason": ""},
]


FAILED_LOGIN = Session(
    "worker_4",
    status="disconnected",
    created=NOW - 300,
    restarts=3,
    last_ping=NOW - 5,
    reason="dns: WhatsApp's address could not be looked up (DNS): dial tcp: lookup web.whatsapp.com: no such host",
    hint=KINDS["dns"].check,
)
FAILED_HISTORY = [
    {"at": NOW - 2, "kind": "restart", "problem": "worker exited", "delay": 4.0},
    {"at": NOW - 3, "kind": "status", "status": "disconnected", "reason": FAILED_LOGIN.reason},
    {"at": NOW - 4, "kind": "status", "status": "starting", "reason": ""},
]

FAILED_HEALTH = assess(  # cold, and it kept dropping before this login failed
    Observed("worker_4", NOW - 2 * DAY_S, "", {**dict.fromkeys(COUNTED, 0), "sent": 8, "failed": 1, "disconnects": 4}),
    DEFAULT_TIERS,
    NOW,
)


class FixedClock:
    """A clock that always says ``NOW`` (the room renders every age and countdown from it)."""

    def now(self) -> float:
        return NOW

    async def sleep(self, seconds: float) -> None:
        raise AssertionError("a still room does not wait")

    def real_seconds(self, seconds: float) -> float:
        return seconds

    def clock_seconds(self, real_seconds: float) -> float:
        return real_seconds


@pytest.fixture
def room(make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch) -> Iterator[StillRoom]:
    """The control room on a fixed clock (``NOW``, times shown in UTC)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield StillRoom(make_settings(), clock=FixedClock())
    monkeypatch.undo()
    time.tzset()


def sessions(pilot: Pilot[Any]) -> None:
    """Stop the sessions screen's live feed and show ``ROWS``."""
    screen = pilot.app.screen
    assert isinstance(screen, SessionsScreen)
    pilot.app.workers.cancel_node(screen)
    screen.rows = ROWS
    screen.redraw()


async def waiting_detail(pilot: Pilot[Any]) -> None:
    """Open the session screen of a session showing its QR code, with fixed history."""
    await pilot.app.push_screen(DetailScreen(WAITING_SESSION.id))
    screen = pilot.app.screen
    assert isinstance(screen, DetailScreen)
    pilot.app.workers.cancel_node(screen)
    screen.show(WAITING_SESSION, HISTORY, WorkerFacts(None, 0, Path("/srv/waorch/logs/worker_3.log")))


async def failed_detail(pilot: Pilot[Any]) -> None:
    """Open the session screen of a session whose login cannot reach WhatsApp, backing off."""
    await pilot.app.push_screen(DetailScreen(FAILED_LOGIN.id))
    screen = pilot.app.screen
    assert isinstance(screen, DetailScreen)
    pilot.app.workers.cancel_node(screen)
    facts = WorkerFacts(NOW + 4, 3, Path("/srv/waorch/logs/worker_4.log"), FAILED_HEALTH)
    screen.show(FAILED_LOGIN, FAILED_HISTORY, facts)


def test_sessions_table_with_every_status(snap_compare, room: StillRoom) -> None:
    assert snap_compare(room, terminal_size=SIZE, run_before=sessions, press=["down", "down"])


def test_sessions_table_filtered(snap_compare, room: StillRoom) -> None:
    assert snap_compare(room, terminal_size=SIZE, run_before=sessions, press=["slash", *"conn"])


def test_help_lists_every_key(snap_compare, room: StillRoom) -> None:
    assert snap_compare(room, terminal_size=SIZE, run_before=sessions, press=["question_mark"])


def test_session_screen_with_its_qr_code(snap_compare, room: StillRoom) -> None:
    assert snap_compare(room, terminal_size=SIZE, run_before=waiting_detail)


def test_small_terminal_offers_the_pairing_code_instead_of_the_qr(snap_compare, room: StillRoom) -> None:
    assert snap_compare(room, terminal_size=(80, 24), run_before=waiting_detail)


def test_session_screen_of_a_login_that_cannot_reach_whatsapp(snap_compare, room: StillRoom) -> None:
    assert snap_compare(room, terminal_size=(80, 24), run_before=failed_detail)


PROXIES = [
    ProxyInfo(
        "px_1",
        "socks5h://127.0.0.1:1080",
        "127.0.0.1:1080",
        "ok",
        0,
        "",
        "env",
        ("worker_1", "worker_2"),
        ("972501111111", "972502222222"),
        4,
    ),
    ProxyInfo(
        "px_2",
        "socks5h://127.0.0.1:1081",
        "127.0.0.1:1081",
        "bad",
        int((NOW + 95) * 1000),
        "SOCKS5 connect refused",
        "api",
        ("worker_3",),
        (),
        4,
    ),
]
ACTIVITY = [
    Activity("1-0", NOW - 30, "info", "worker_1", "status", "connected"),
    Activity("2-0", NOW - 20, "error", "", "proxy", "127.0.0.1:1081 marked BAD: SOCKS5 connect refused"),
    Activity("3-0", NOW - 10, "warning", "worker_4", "status", "disconnected (connection lost)"),
]


async def pane(pilot: Pilot[Any], key: str, data: object) -> None:
    """Switch to a pane, stop its live feed and show ``data``."""
    await pilot.press(key)
    screen = pilot.app.screen
    pilot.app.workers.cancel_node(screen)
    screen.show(data)
    await pilot.pause()


def test_proxies_pane_with_a_bad_proxy_cooling_down(snap_compare, room: StillRoom) -> None:
    assert snap_compare(room, terminal_size=SIZE, run_before=lambda pilot: pane(pilot, "2", PROXIES))


def test_trust_tiers_pane_with_the_default_tiers(snap_compare, room: StillRoom) -> None:
    assert snap_compare(room, terminal_size=SIZE, run_before=lambda pilot: pane(pilot, "3", DEFAULT_TIERS))


def test_log_pane_with_events_and_alerts(snap_compare, room: StillRoom) -> None:
    assert snap_compare(room, terminal_size=SIZE, run_before=lambda pilot: pane(pilot, "4", ACTIVITY))
