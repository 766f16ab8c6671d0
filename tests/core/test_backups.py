"""Backups: taken while messages flow, restored on a fresh machine (empty Redis, empty data dir) with the
sessions connected again without a QR and nothing sent twice; bad archives refused with nothing changed;
rotation; private files."""

from __future__ import annotations

import collections
import contextlib
import gzip
import io
import json
import os
import shutil
import stat
import tarfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from support import API_KEY, RunningService, eventually, wait_status
from test_sending import FAST, connected_session, delivered

from waorch.clock import ScaledClock
from waorch.config import Settings
from waorch.core.backup_archive import MAX_MANIFEST_BYTES, MAX_UNPACKED_BYTES
from waorch.core.sessions import Status
from waorch.errors import (
    BackupCorrupt,
    BackupForeign,
    BackupNotFound,
    BackupTooNew,
    BackupUnsafe,
    FleetNotEmpty,
    InvalidBackup,
    InvalidBackupName,
)
from waorch.service import running_service

PHONES = ("972501111111", "972501111112", "972501111113")


@contextlib.asynccontextmanager
async def machine(settings: Settings) -> AsyncIterator[RunningService]:
    """A core with its HTTP server and workers, stopped (workers too) on leaving: a machine of its own (its
    clock 20 times faster than real time, so typing and pacing take little of the test's time)."""
    async with (
        running_service(settings, stop_workers=True, clock=ScaledClock(20)) as service,
        httpx.AsyncClient(base_url=service.base_url, headers={"X-API-Key": API_KEY}, trust_env=False) as api,
    ):
        yield RunningService(service, api, settings)


async def send(api: httpx.AsyncClient, session_id: str, text: str) -> str:
    answer = await api.post("/api/v1/send", json={"to": "+972522222222", "message": text, "sessionId": session_id})
    assert answer.status_code == 202
    return str(answer.json()["messageId"])


async def sent_log(sim_url: str) -> list[dict]:
    return [entry for phone in PHONES for entry in await delivered(sim_url, phone)]


@pytest.mark.timeout(180)
async def test_a_backup_taken_while_sending_restores_on_a_fresh_machine_without_qr_or_double_send(
    make_settings: Callable[..., Settings], sim, socks_proxy, own_redis, tmp_path: Path
) -> None:
    proxy = socks_proxy().url
    old = make_settings(SIM_URL=sim.url, PROXY_URL_1=proxy)
    async with machine(old) as first:
        assert (await first.api.put("/api/trust-tiers", json={"tiers": [FAST]})).status_code == 200
        flowing = [await connected_session(first, sim.url, phone) for phone in PHONES[:2]]
        parked = await connected_session(first, sim.url, PHONES[2])
        await first.api.post(f"/api/sessions/{parked}/queue/pause")
        held_back = [await send(first.api, parked, f"held {n}") for n in range(3)]
        ids = [await send(first.api, flowing[n % 2], f"flow {n}") for n in range(40)]
        await eventually(lambda: _at_least(sim.url, 10), timeout=30)
        info = await first.core.backups.take()  # while the two sessions send
        await eventually(lambda: _at_least(sim.url, len(ids)), timeout=60)  # the old machine sends the rest
    sent_by_old = collections.Counter(entry["messageId"] for entry in await sent_log(sim.url))
    assert set(sent_by_old) == set(ids) and max(sent_by_old.values()) == 1

    fresh_redis = own_redis()
    new = make_settings(
        SIM_URL=sim.url,
        PROXY_URL_1=proxy,
        DATA_DIR=str(tmp_path / "fresh"),
        REDIS_URL=fresh_redis.url,
        WEBHOOK_SECRET="another-machine-webhook-secret-0123",
    )
    new.backups_dir.mkdir(parents=True)
    shutil.copy(old.backups_dir / info.name, new.backups_dir / info.name)
    async with machine(new) as second:
        result = await second.core.backups.restore(info.name)
        assert result.sessions == 3 and parked in result.held
        [pool_proxy] = await second.core.pool.list()
        for sid in (*flowing, parked):
            body = await wait_status(second.api, sid, "connected", timeout=20)
            assert body["phone"] in PHONES and body["proxyId"] == pool_proxy.id
            assert "qr_ready" not in await statuses_since_restore(second, sid), "connected again without a QR"
        for message_id in held_back:
            assert (await second.api.get(f"/api/v1/messages/{message_id}")).json()["status"] == "queued"
        await eventually(lambda: _no_inflight(second, flowing), timeout=20)  # settled from the copied journals
        assert (await second.api.post(f"/api/sessions/{parked}/queue/resume")).status_code == 200
        await eventually(lambda: _at_least(sim.url, len(ids) + len(held_back)), timeout=30)
        times = collections.Counter(entry["messageId"] for entry in await sent_log(sim.url))
        assert set(times) == {*ids, *held_back} and max(times.values()) == 1, "nothing was sent twice"
        for message_id in ids:  # the old machine's sends stay as the backup knew them, or settled from the journal
            status = (await second.api.get(f"/api/v1/messages/{message_id}")).json()["status"]
            assert status in ("sent", "queued", "unknown"), (message_id, status)


async def statuses_since_restore(running: RunningService, session_id: str) -> list[str]:
    """The statuses a session went through since the restore started it, oldest first."""
    seen = []
    for entry in await running.core.store.history(session_id):
        if entry.get("kind") == "status":
            seen.append(entry["status"])
            if "restored from backup" in entry.get("reason", ""):
                break
    return seen[::-1]


async def _at_least(sim_url: str, count: int) -> bool:
    return len(await sent_log(sim_url)) >= count


async def _no_inflight(running: RunningService, sessions: list[str]) -> bool:
    return not any([await running.core.messages.inflight(sid) for sid in sessions])


async def test_bad_archives_are_refused_and_change_nothing(start_service, redis: aioredis.Redis, sim) -> None:
    running: RunningService = await start_service()
    sid = (await running.api.post("/api/sessions/provision", json={})).json()["sessionId"]
    await wait_status(running.api, sid, "qr_ready")
    await running.core.lifecycle.stop(sid)  # no worker: nothing changes the fleet while the archives are tried
    await running.core.store.set_status(sid, Status.STOPPED, "stopped while archives are tried")
    assert (running.settings.sessions_dir / sid / "sim-auth.json").is_file()
    good = running.settings.backups_dir / (await running.core.backups.take()).name
    for name, refusal in bad_archives(good.read_bytes()).items():
        (running.settings.backups_dir / name).write_bytes(refusal[0])
    listed = {info.name: info for info in await running.core.backups.archives()}
    huge = running.settings.backups_dir / "hugemanifest.tar.gz"
    assert (listed[huge.name].sessions, listed[huge.name].created) == (None, huge.stat().st_mtime)  # not read
    state = await everything(redis, running.settings)
    for name, (_, kind) in bad_archives(good.read_bytes()).items():
        with pytest.raises(kind) as refused:
            await running.core.backups.restore(name, replace=True)
        assert isinstance(refused.value, InvalidBackup) and refused.value.message, name
        assert await everything(redis, running.settings) == state, f"{name} changed something"
    with pytest.raises(BackupNotFound):
        await running.core.backups.restore("waorch-backup-none.tar.gz", replace=True)
    for name in ("../x.tar.gz", "/etc/x.tar.gz", "x.zip", ".hidden.tar.gz", ""):
        with pytest.raises(InvalidBackupName):
            await running.core.backups.restore(name, replace=True)
    with pytest.raises(FleetNotEmpty):
        await running.core.backups.restore(good.name)
    assert await everything(redis, running.settings) == state


def bad_archives(good: bytes) -> dict[str, tuple[bytes, type[InvalidBackup]]]:
    """Archives that must be refused, by file name: their bytes and the refusal expected."""
    members = read_members(good)
    manifest = json.loads(members["manifest.json"])
    newer = {**members, "manifest.json": json.dumps({**manifest, "formatVersion": 99}).encode()}
    tampered = {**members, "redis.json": members["redis.json"] + b" "}
    padded = {**members, "manifest.json": members["manifest.json"] + b" " * MAX_MANIFEST_BYTES}  # sound but huge
    middle = len(good) // 2
    flipped = good[:middle] + bytes([good[middle] ^ 0xFF]) + good[middle + 1 :]
    return {
        "truncated.tar.gz": (good[: len(good) - 40], BackupCorrupt),
        "flipped.tar.gz": (flipped, BackupCorrupt),
        "tampered.tar.gz": (tar_of(tampered), BackupCorrupt),
        "missing.tar.gz": (tar_of({k: v for k, v in members.items() if k != "redis.json"}), BackupCorrupt),
        "foreign.tar.gz": (tar_of({"etc/passwd": b"root:x:0:0"}), BackupForeign),
        "nomanifest.tar.gz": (tar_of({"redis.json": b"[]"}), BackupForeign),
        "random.tar.gz": (os.urandom(4096), BackupForeign),
        "newer.tar.gz": (tar_of(newer), BackupTooNew),
        "dotdot.tar.gz": (tar_of({**members, "sessions/../../evil": b"x"}), BackupUnsafe),
        "absolute.tar.gz": (tar_of({**members, "/tmp/evil": b"x"}), BackupUnsafe),
        "symlink.tar.gz": (tar_of(members, special=tarfile.SYMTYPE), BackupUnsafe),
        "device.tar.gz": (tar_of(members, special=tarfile.CHRTYPE), BackupUnsafe),
        "bomb.tar.gz": (claiming(MAX_UNPACKED_BYTES + 1), BackupUnsafe),
        "hugemanifest.tar.gz": (tar_of(padded), BackupUnsafe),
    }


def claiming(size: int) -> bytes:
    """An archive whose one member claims ``size`` bytes (a gzip bomb's header, without its zeros)."""
    info = tarfile.TarInfo("redis.json")
    info.size = size
    return gzip.compress(info.tobuf() + bytes(1024))


def read_members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}  # type: ignore[union-attr]


def tar_of(members: dict[str, bytes], special: bytes | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if special is not None:
            link = tarfile.TarInfo("sessions/worker_1/sim-auth.json.link")
            link.type, link.linkname = special, "/etc/shadow"
            tar.addfile(link)
    return buffer.getvalue()


async def everything(redis: aioredis.Redis, settings: Settings) -> tuple[dict, dict]:
    """Every waorch key with its value (but the lease, renewed meanwhile) and every file under the sessions dir."""
    values = {}
    async for key in redis.scan_iter(match="waorch:*"):
        if not key.startswith("waorch:core:"):
            values[key] = await redis.dump(key)
    files = {str(p.relative_to(settings.sessions_dir)): p.read_bytes() for p in settings.sessions_dir.rglob("*.*")}
    return values, files


async def test_rotation_keeps_the_newest_and_every_file_is_private(start_service) -> None:
    running: RunningService = await start_service(MAX_BACKUPS="2")
    taken = [await running.core.backups.take() for _ in range(4)]
    directory = running.settings.backups_dir
    assert sorted(p.name for p in directory.iterdir()) == sorted(info.name for info in taken[-2:])
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in directory.iterdir())
    listed = await running.core.backups.archives()
    assert [info.name for info in listed] == [info.name for info in reversed(taken[-2:])]
    assert listed[0].sessions == 0 and listed[0].size == (directory / listed[0].name).stat().st_size
    newer = await running.core.backups.take()  # the listing follows the directory: the newest in, the oldest out
    assert [info.name for info in await running.core.backups.archives()] == [newer.name, taken[-1].name]
    with gzip.open(directory / listed[0].name) as archive:
        assert archive.read(100)  # a gzipped tar
