"""Alerts reach a Telegram chat (a local stand-in of the Bot API that records each sendMessage):
what the core notices is sent, a burst is one message, repeats are counted, Telegram's limits and
outages are lived with, and no secret is ever in a call."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal

import pytest
import redis.asyncio as aioredis
from support import API_KEY, RunningService, eventually, post_event
from telegram_standin import CHAT, TOKEN, TelegramStandIn
from test_sending import PHONE, connected_session

from waorch.clock import SystemClock
from waorch.core.activity import ActivityLog
from waorch.core.alerts import AlertStore
from waorch.core.sessions import Status
from waorch.core.telegram import TelegramSender
from waorch.core.watchdog import CRASH_LIMIT

STARTING = {"status": "starting", "created": "0", "generation": "0"}  # a session without a worker


async def line_with(telegram: TelegramStandIn, text: str) -> str | None:
    """The first line sent that contains ``text``."""
    return next((line for line in telegram.lines() if text in line), None)


async def all_sent(running: RunningService, telegram: TelegramStandIn, *texts: str) -> bool:
    """Every ``text`` is in a line sent, and nothing waits to be sent."""
    return all([await line_with(telegram, text) for text in texts]) and await running.core.alerts.pending() == 0


async def test_a_worker_that_stops_pinging_is_restarted_and_alerted(start_service, sim, telegram) -> None:
    running: RunningService = await start_service(PING_TIMEOUT_MS="3000", **telegram.settings())
    sid = await connected_session(running, sim.url)
    assert await eventually(lambda: line_with(telegram, f"✅ {sid} +{PHONE}: connected"))
    pid = int((await running.core.store.get(sid)).worker.split(":")[0])
    os.kill(pid, signal.SIGSTOP)  # alive, but silent
    try:
        line = await eventually(lambda: line_with(telegram, f"🔁 {sid} +{PHONE}: no ping for "), timeout=20)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert "worker restarts in" in line
    assert {call.token for call in telegram.calls} == {TOKEN}
    assert {json.loads(call.body)["chat_id"] for call in telegram.calls} == {CHAT}


async def test_a_crash_looping_worker_is_parked_and_alerted_once(start_service, telegram) -> None:
    running: RunningService = await start_service(WATCHDOG_INTERVAL_MS="600000", **telegram.settings())
    await running.core.pool.provision(STARTING, None, None)
    for _ in range(CRASH_LIMIT + 1):
        await running.core.starts.discard("worker_1")
        await running.core.watchdog.restart(await running.core.store.get("worker_1"), "worker exited")
    await eventually(lambda: all_sent(running, telegram, "❌ worker_1: failed: crash loop"))
    lines = telegram.lines()
    assert len([line for line in lines if "crash loop" in line]) == 1
    assert len([line for line in lines if line.startswith("🔁 worker_1")]) == 1  # the others counted, not sent
    alerts = (await running.api.get("/api/alerts")).json()["alerts"]
    restarts = sorted(alert["delivery"] for alert in alerts if alert["kind"] == "restarted")
    assert restarts == ["sent"] + ["summarised"] * (CRASH_LIMIT - 1)


async def test_an_alert_storm_is_one_or_two_messages_without_a_secret(
    start_service, socks_proxy, telegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    proxy = socks_proxy("alice-token", "s3cret-pass")
    running: RunningService = await start_service(
        PROXY_URL_1=proxy.url, MAX_SESSIONS_PER_PROXY="10", WATCHDOG_INTERVAL_MS="600000", **telegram.settings()
    )
    for _ in range(10):
        await running.core.pool.provision(STARTING, None, None)
    refused = f"SOCKS5 authentication refused for {proxy.url} (alice-token / s3cret-pass)"
    assert (await post_event(running, "worker_1", "PROXY_ERROR", {"error": refused})).status_code == 200
    failed = [f"❌ worker_{n}: failed: proxy 127.0.0.1:{proxy.port} failed" for n in range(1, 11)]
    await eventually(lambda: all_sent(running, telegram, "🔄 worker_1: proxy", "🚫 no usable proxy", *failed))
    assert len(telegram.calls) <= 2
    bodies = b"".join(call.body for call in telegram.calls).decode()
    for secret in ("s3cret-pass", "alice-token", TOKEN, API_KEY, running.settings.webhook_secret):
        assert secret not in bodies and secret not in caplog.text
    assert "HTTP Request: POST" in caplog.text  # httpx logged its calls, with the token written ***


async def test_a_429_is_honoured_no_call_before_retry_after(start_service, telegram) -> None:
    too_many = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 2",
        "parameters": {"retry_after": 2},
    }
    telegram.answers.append((429, too_many))
    running: RunningService = await start_service(**telegram.settings())
    await running.core.activity.backup_failed("no space left on device")
    await eventually(lambda: all_sent(running, telegram, "💾 backup failed: no space left on device"), timeout=15)
    first, second = telegram.calls
    assert second.at - first.at >= 2.0
    assert first.text == second.text


async def test_while_telegram_is_down_alerts_wait_and_none_is_lost(start_service, telegram) -> None:
    telegram.answers.append((500, {"ok": False, "description": "Internal Server Error"}))
    running: RunningService = await start_service(WATCHDOG_INTERVAL_MS="600000", **telegram.settings())
    await running.core.activity.backup_failed("disk full")
    await eventually(lambda: _calls(telegram, 1))
    await telegram.stop()
    for n in range(1, 4):
        await running.core.pool.provision(STARTING, None, None)
        await post_event(running, f"worker_{n}", "AUTH_FAILURE", {"reason": "banned", "detail": f"account {n} banned"})
    sender = running.core.telegram
    assert sender is not None
    await eventually(lambda: _failures(sender, 2), timeout=15)  # tried while unreachable, kept them
    await telegram.start()
    parked = [f"❌ worker_{n}: failed: banned: account {n} banned" for n in range(1, 4)]
    await eventually(lambda: all_sent(running, telegram, "💾 backup failed: disk full", *parked), timeout=20)
    delivered = [line for call in telegram.calls[1:] for line in call.text.splitlines()]
    assert sorted(delivered) == sorted(["💾 backup failed: disk full", *parked])  # each once
    alerts = (await running.api.get("/api/alerts")).json()["alerts"]
    assert {alert["delivery"] for alert in alerts} == {"sent"}


async def test_a_flapping_session_is_counted_not_repeated(redis: aioredis.Redis, telegram) -> None:
    clock = SystemClock()
    store = AlertStore(redis, clock, telegram=True, cooldown=3.0)
    activity = ActivityLog(redis, clock, alerts=store)
    stopping = asyncio.Event()
    sending = asyncio.ensure_future(TelegramSender(store, telegram.url, TOKEN, CHAT, window=0.2).run_forever(stopping))
    try:
        for _ in range(50):
            await activity.status_changed("worker_1", Status.DISCONNECTED, "connection_lost")
            await activity.status_changed("worker_1", Status.CONNECTED, "")
        await eventually(lambda: _told(telegram, 50), timeout=20)
    finally:
        stopping.set()
        await sending
    assert len(telegram.calls) <= 6
    assert [line for line in telegram.lines() if "more like this" not in line] == [
        "⚠️ worker_1: disconnected: connection_lost",
        "✅ worker_1: connected",
    ]


async def test_without_a_token_nothing_is_sent_and_that_is_said_once(
    start_service, telegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="waorch.telegram")
    running: RunningService = await start_service(TELEGRAM_API_URL=telegram.url)
    await running.core.activity.backup_failed("disk full")
    body = (await running.api.get("/api/alerts")).json()
    assert (body["telegram"], body["pending"], [alert["delivery"] for alert in body["alerts"]]) == (False, 0, ["off"])
    assert len([record for record in caplog.records if "alerts are off" in record.getMessage()]) == 1
    await asyncio.sleep(3)  # longer than a sender gathers a burst: still nothing
    assert telegram.calls == []


async def _calls(telegram: TelegramStandIn, count: int) -> bool:
    return len(telegram.calls) >= count


async def _failures(sender: TelegramSender, count: int) -> bool:
    return sender.failures >= count


async def _told(telegram: TelegramStandIn, times: int) -> bool:
    """Both kinds were told ``times`` times: once in full, the rest in "N more like this" lines."""
    told = {"⚠️": 0, "✅": 0}
    for line in telegram.lines():
        sign, _, rest = line.partition(" worker_1: ")
        more = rest.partition(" more like this")
        told[sign] = told.get(sign, 0) + (int(more[0]) if more[1] else 1)
    return told == {"⚠️": times, "✅": times}
