"""``GET /api/jobs`` and ``GET /metrics`` on a running service: the metrics parse as Prometheus text and
say what the API says (sessions, queue depth, sends of the day), never a phone number; the key is
required on the API's port, and a separate METRICS_PORT serves them alone without it."""

from __future__ import annotations

from datetime import datetime

import httpx
from prometheus_client.parser import text_string_to_metric_families
from support import API_KEY, conforms, eventually, free_port
from test_sending import FAST, PHONE, connected_session

from waorch.clock import ScaledClock

RECIPIENT = "972522222222"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_jobs_show_their_next_run_in_the_configured_zone(start_service) -> None:
    running = await start_service(TIMEZONE="Asia/Jerusalem", JOBS_AT="04:15")
    answer = await running.api.get("/api/jobs")
    conforms("GET", "/api/jobs", answer)
    body = answer.json()
    assert body["at"] == "04:15" and body["timezone"] == "Asia/Jerusalem"
    assert [job["name"] for job in body["jobs"]] == ["summary", "prune", "backup"]
    for job in body["jobs"]:
        when = datetime.fromtimestamp(job["nextRun"], running.settings.timezone)
        assert (when.hour, when.minute) == (4, 15) and job["last"] is None
        assert 0 < job["nextRun"] - running.core.clock.now() <= 86400
    assert (await running.api.get("/api/jobs", params={"x": "1"})).json()["error"] == "INVALID_QUERY"


async def test_the_daily_backup_job_takes_a_backup_whose_age_is_a_metric(start_service) -> None:
    running = await start_service()
    assert not any(name == "waorch_backup_age_seconds" for name, _ in samples((await running.api.get("/metrics")).text))
    [backup] = [job for job in running.core.daily.jobs if job.name == "backup"]
    did = await backup.run(running.core.clock.now())
    listed = (await running.api.get("/api/backups")).json()["backups"]
    assert len(listed) == 1 and did.startswith(listed[0]["name"])
    age = samples((await running.api.get("/metrics")).text)[("waorch_backup_age_seconds", ())]
    assert 0 <= age < 60


async def test_metrics_match_the_api_and_name_no_phone(start_service, sim_factory) -> None:
    clock = ScaledClock(20)
    sim = await sim_factory(clock=clock, qr_first_ttl=30, qr_ttl=10)
    port = free_port()
    running = await start_service(clock=clock, SIM_URL=sim.url, METRICS_PORT=str(port))
    assert (await running.api.put("/api/trust-tiers", json={"tiers": [FAST]})).status_code == 200
    sid = await connected_session(running, sim.url)
    for text in ("one", "two", "three"):
        await running.api.post("/api/v1/send", json={"to": f"+{RECIPIENT}", "message": text, "sessionId": sid})

    async def all_sent() -> dict | None:
        queue = (await running.api.get(f"/api/sessions/{sid}/queue")).json()
        return queue if queue["daily"]["sent"] == 3 else None

    await eventually(all_sent, timeout=30)
    await running.api.post(f"/api/sessions/{sid}/queue/pause")
    for text in ("four", "five"):
        await running.api.post("/api/v1/send", json={"to": f"+{RECIPIENT}", "message": text, "sessionId": sid})

    answer = await running.api.get("/metrics")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
    values = samples(answer.text)
    queue = (await running.api.get(f"/api/sessions/{sid}/queue")).json()
    health = (await running.api.get("/health")).json()
    assert queue["depth"] == 2
    assert values[("waorch_queue_depth", (("session", sid),))] == queue["depth"]
    assert values[("waorch_messages_today", (("outcome", "sent"), ("session", sid)))] == queue["daily"]["sent"]
    for status, count in health["sessions"].items():
        assert values[("waorch_sessions", (("status", status),))] == count
    assert values[("waorch_sessions", (("status", "connected"),))] == 1
    assert values[("waorch_messages_accepted_total", ())] == 5
    assert values[("waorch_send_lateness_seconds_count", ())] == 3
    assert values[("waorch_webhook_events_total", (("type", "CONNECTED"),))] >= 1
    assert values[("waorch_proxies_bad", ())] == 0
    assert PHONE not in answer.text and RECIPIENT not in answer.text and "msg_" not in answer.text

    async with httpx.AsyncClient(base_url=running.service.base_url, trust_env=False) as anonymous:
        refused = await anonymous.get("/metrics")
    assert refused.status_code == 401 and refused.json()["error"] == "UNAUTHORIZED"
    conforms("GET", "/metrics", refused)

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as scraper:
        scraped = await scraper.get("/metrics")
        elsewhere = await scraper.get("/api/sessions", headers={"X-API-Key": API_KEY})
    assert scraped.status_code == 200
    assert samples(scraped.text)[("waorch_queue_depth", (("session", sid),))] == 2
    assert elsewhere.status_code == 404  # the scraper's address serves the metrics alone, not the API
