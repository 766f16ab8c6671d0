"""``GET /api/alerts``: the alerts, newest first, with their delivery state, as the document says."""

from __future__ import annotations

from support import RunningService, conforms, eventually

from waorch.core.alerts import AlertKind


async def test_alerts_are_listed_newest_first_with_their_delivery(start_service, telegram) -> None:
    running: RunningService = await start_service(**telegram.settings())
    await running.core.activity.backup_failed("disk full")
    await running.core.activity.add(
        "warning",
        "proxy",
        "proxy pool nearly full: 9 of 10 slots used",
        alert=AlertKind.POOL_NEARLY_FULL,
        subject="pool",
    )
    answer = await running.api.get("/api/alerts")
    conforms("GET", "/api/alerts", answer)
    body = answer.json()
    assert body["telegram"] is True and body["pending"] == 2
    assert [(a["kind"], a["text"], a["delivery"]) for a in body["alerts"]] == [
        ("pool_nearly_full", "proxy pool nearly full: 9 of 10 slots used", "queued"),
        ("backup_failed", "backup failed: disk full", "queued"),
    ]

    async def sent() -> dict | None:
        listed = (await running.api.get("/api/alerts?limit=1")).json()
        return listed if listed["alerts"][0]["delivery"] == "sent" else None

    body = await eventually(sent)
    [newest] = body["alerts"]
    assert newest["sentAt"] >= newest["at"] and body["pending"] == 0 and newest["sessionId"] is None
    assert len(telegram.calls) == 1


async def test_a_bad_query_is_a_400_and_changes_nothing(start_service) -> None:
    running: RunningService = await start_service()
    for query in ("limit=0", "limit=1001", "limit=x", "limit=1&limit=2", "since=3"):
        answer = await running.api.get(f"/api/alerts?{query}")
        assert (answer.status_code, answer.json()["error"]) == (400, "INVALID_QUERY"), query
        conforms("GET", "/api/alerts", answer)
    unauthorised = await running.api.get("/api/alerts", headers={"X-API-Key": "wrong-key-0123456789"})
    assert unauthorised.status_code == 401
