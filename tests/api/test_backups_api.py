"""``/api/backups``: take, list, restore, every answer as the OpenAPI document says."""

from __future__ import annotations

from support import RunningService, conforms, wait_status
from test_sending import connected_session

RESTORE = "/api/backups/{name}/restore"


async def test_a_backup_is_taken_listed_and_restored_over_the_fleet_only_when_told(start_service, sim) -> None:
    running: RunningService = await start_service()
    api = running.api
    sid = await connected_session(running, sim.url)
    taken = await api.post("/api/backups")
    conforms("POST", "/api/backups", taken)
    assert taken.status_code == 201 and taken.json()["sessions"] == 1
    name = taken.json()["name"]
    listed = await api.get("/api/backups")
    conforms("GET", "/api/backups", listed)
    assert [b["name"] for b in listed.json()["backups"]] == [name] and listed.json()["keep"] == 7

    refused = await api.post(f"/api/backups/{name}/restore", json={})
    conforms("POST", RESTORE, refused)
    assert (refused.status_code, refused.json()["error"]) == (409, "FLEET_NOT_EMPTY")
    await api.post(f"/api/sessions/{sid}/queue/pause")
    later = await api.post("/api/v1/send", json={"to": "+972522222222", "message": "after", "sessionId": sid})
    restored = await api.post(f"/api/backups/{name}/restore", json={"replace": True})
    conforms("POST", RESTORE, restored)
    assert restored.status_code == 200 and restored.json()["sessions"] == 1 and restored.json()["held"] == []
    body = await wait_status(api, sid, "connected", timeout=20)  # its login data back: no QR
    assert body.get("qr") is None
    gone = await api.get(f"/api/v1/messages/{later.json()['messageId']}")
    assert gone.status_code == 404, "the fleet is the backup's: a message accepted after it is not there"
    assert (await api.get(f"/api/sessions/{sid}/queue")).json()["paused"] is False


async def test_bad_requests_are_4xx_as_documented(start_service) -> None:
    running: RunningService = await start_service()
    api = running.api
    backups = running.settings.backups_dir
    backups.mkdir(parents=True, exist_ok=True)
    (backups / "broken.tar.gz").write_bytes(b"\x1f\x8b\x08\x00 cut short")
    cases = [
        ("POST", "/api/backups/broken.tar.gz/restore", {}, 400, "BACKUP_CORRUPT"),
        ("POST", "/api/backups/nothing.tar.gz/restore", {}, 404, "BACKUP_NOT_FOUND"),
        ("POST", "/api/backups/notes.txt/restore", {}, 400, "INVALID_BACKUP_NAME"),
        ("POST", "/api/backups/broken.tar.gz/restore", {"replace": "yes"}, 400, "BAD_REQUEST"),
        ("POST", "/api/backups/broken.tar.gz/restore", {"force": True}, 400, "BAD_REQUEST"),
        ("POST", "/api/backups", {"now": True}, 400, "BAD_REQUEST"),
    ]
    for method, path, body, status, code in cases:
        answer = await api.request(method, path, json=body)
        assert (answer.status_code, answer.json()["error"]) == (status, code), path
        template = RESTORE if path.endswith("/restore") else path
        conforms(method, template, answer)
    listed = await api.get("/api/backups?x=1")
    assert listed.status_code == 400
    conforms("GET", "/api/backups", listed)
    assert sorted(p.name for p in backups.iterdir()) == ["broken.tar.gz"], "nothing was written"
    unauthorised = await api.post("/api/backups", headers={"X-API-Key": "wrong-key-0123456789"})
    assert unauthorised.status_code == 401


async def test_a_backup_that_cannot_be_written_is_a_503_and_an_alert(start_service, tmp_path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    running: RunningService = await start_service(BACKUPS_DIR=str(tmp_path / "a-file" / "backups"))
    answer = await running.api.post("/api/backups")
    conforms("POST", "/api/backups", answer)
    assert (answer.status_code, answer.json()["error"]) == (503, "BACKUP_FAILED")
    [alert] = (await running.api.get("/api/alerts")).json()["alerts"]
    assert alert["kind"] == "backup_failed" and "NotADirectoryError" in alert["text"]
