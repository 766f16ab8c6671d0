"""The seed's sticky-proxy rules, enforced atomically in the real Redis."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from waorch.core.proxy_pool import ProxyPool
from waorch.core.sessions import SessionStore
from waorch.errors import NoProxyCapacity, PhoneLimit, ProxyInUse
from waorch.proxy_url import parse_proxy_url

FIELDS = {"status": "provisioning", "created": "0", "generation": "0"}


async def make_pool(redis: aioredis.Redis, names: str = "ABCD", max_per_proxy: int = 4, cooldown_ms: int = 60000) -> tuple[ProxyPool, dict[str, str]]:
    pool = ProxyPool(redis, max_per_proxy, 4, cooldown_ms)
    ids = {}
    for offset, name in enumerate(names):
        ids[name] = (await pool.add(parse_proxy_url(f"socks5h://u{name}:p@10.0.0.{offset + 1}:1080"))).id
    return pool, ids


async def connect(pool: ProxyPool, phone: str) -> tuple[str, str]:
    """Provision for a phone and bind it as CONNECTED would."""
    sid, pid = await pool.provision(FIELDS, phone, None)
    await pool.bind_phone(sid, phone)
    return sid, pid


async def test_seed_sticky_diagram(redis: aioredis.Redis) -> None:
    pool, ids = await make_pool(redis)
    name_of = {pid: name for name, pid in ids.items()}
    # Phones 1 and 3 on A, 2 on B, 4-7 on C (full), as in the seed's diagram.
    layout = {"972501111111": "A", "972502222222": "B", "972503333333": "A", "972504444444": "C",
              "972505555555": "C", "972506666666": "C", "972507777777": "C"}
    for phone, name in layout.items():
        sid, pid = await pool.provision(FIELDS, phone, ids[name])
        await pool.bind_phone(sid, phone)
    loads = {p.endpoint: len(p.sessions) for p in await pool.list()}
    assert sorted(loads.values()) == [0, 1, 2, 4]
    _, new_pid = await connect(pool, "972508888888")
    assert name_of[new_pid] == "D"  # C is full; D is the least loaded healthy proxy
    _, again = await connect(pool, "972501111111")
    assert name_of[again] == "A"  # a phone always gets its proxy back
    with pytest.raises(NoProxyCapacity):
        await pool.provision(FIELDS, "972504444444", None)  # its sticky proxy C is full
    assert await redis.get("waorch:session:counter") == "9"


async def test_new_phone_goes_to_least_loaded(redis: aioredis.Redis) -> None:
    pool, ids = await make_pool(redis, "AB")
    await connect(pool, "972500000001")
    _, pid = await connect(pool, "972500000002")
    assert pid == ids["B"]


async def test_fifty_concurrent_provisions_never_overfill(redis: aioredis.Redis) -> None:
    pool, _ = await make_pool(redis, "ABCDEFGHIJ", max_per_proxy=4)
    results = await asyncio.gather(
        *(pool.provision(FIELDS, f"97250{n:07d}", None) for n in range(50)), return_exceptions=True)
    created = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(created) == 40 and all(isinstance(r, NoProxyCapacity) for r in refused)
    assert all(len(p.sessions) == 4 for p in await pool.list())
    # Nothing half-created: exactly the 40 accepted sessions exist, ids without gaps.
    store = SessionStore(redis)
    assert sorted(await store.ids()) == sorted(sid for sid, _ in created)
    assert await redis.get("waorch:session:counter") == "40"


async def test_full_pool_creates_nothing(redis: aioredis.Redis) -> None:
    pool, _ = await make_pool(redis, "A", max_per_proxy=1)
    await pool.provision(FIELDS, None, None)
    before = sorted(await redis.keys("*"))
    with pytest.raises(NoProxyCapacity):
        await pool.provision(FIELDS, "972501234567", None)
    assert sorted(await redis.keys("*")) == before


async def test_bad_proxy_is_skipped_then_usable_after_cooldown(redis: aioredis.Redis) -> None:
    pool, ids = await make_pool(redis, "AB", cooldown_ms=300)
    await pool.mark_bad(ids["A"], "connection refused")
    assert (await pool.get(ids["A"])).status == "bad"
    _, pid = await pool.provision(FIELDS, None, None)
    _, pid2 = await pool.provision(FIELDS, None, None)
    assert pid == pid2 == ids["B"]
    await asyncio.sleep(0.35)
    info = await pool.get(ids["A"])
    assert info.status == "ok" and info.recheck_due
    _, pid3 = await pool.provision(FIELDS, None, None)
    assert pid3 == ids["A"]


async def test_move_takes_session_and_sticky_phone_to_another_proxy(redis: aioredis.Redis) -> None:
    pool, ids = await make_pool(redis, "AB")
    sid, pid = await connect(pool, "972501111111")
    await pool.mark_bad(pid, "refused")
    new = await pool.move(sid)
    assert new != pid
    assert (await pool.get(pid)).sessions == ()
    assert await redis.get("waorch:phone:972501111111:proxy") == new
    assert (await SessionStore(redis).get(sid)).generation == 1


async def test_phone_limit(redis: aioredis.Redis) -> None:
    pool, _ = await make_pool(redis, "AB")
    for _ in range(4):
        await connect(pool, "972501111111")
    with pytest.raises(PhoneLimit):
        await pool.provision(FIELDS, "972501111111", None)
    sid, _ = await pool.provision(FIELDS, None, None)
    with pytest.raises(PhoneLimit):
        await pool.bind_phone(sid, "972501111111")


async def test_release_frees_slots_and_remove_refuses_busy_proxy(redis: aioredis.Redis) -> None:
    pool, ids = await make_pool(redis, "A", max_per_proxy=1)
    sid, _ = await connect(pool, "972501111111")
    with pytest.raises(ProxyInUse):
        await pool.remove(ids["A"])
    await pool.release(sid)
    assert (await pool.get(ids["A"])).sessions == ()
    assert await redis.scard("waorch:phone:972501111111:sessions") == 0
    await pool.remove(ids["A"])
    assert await pool.list() == []


async def test_empty_pool_means_no_proxy(redis: aioredis.Redis) -> None:
    pool = ProxyPool(redis, 4, 4, 1000)
    sid, pid = await pool.provision(FIELDS, None, None)
    assert pid == "" and (await SessionStore(redis).get(sid)).proxy == ""
