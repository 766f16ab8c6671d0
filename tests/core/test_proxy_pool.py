"""The seed's sticky-proxy rules, enforced atomically in the real Redis."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
import redis.asyncio as aioredis

from waorch.clock import SystemClock
from waorch.core import keys
from waorch.core.proxy_pool import ProxyPool
from waorch.core.sessions import SessionStore
from waorch.errors import NoProxyCapacity, PhoneLimit, ProxyExists, ProxyInUse
from waorch.proxy_url import parse_proxy_url

FIELDS = {"status": "provisioning", "created": "0", "generation": "0"}
ID_KEY = "test-proxy-id-key"


async def make_pool(
    redis: aioredis.Redis, names: str = "ABCD", max_per_proxy: int = 4, cooldown_ms: int = 60000
) -> tuple[ProxyPool, dict[str, str]]:
    pool = ProxyPool(redis, SystemClock(), max_per_proxy, 4, cooldown_ms, ID_KEY)
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
    layout = {
        "972501111111": "A",
        "972502222222": "B",
        "972503333333": "A",
        "972504444444": "C",
        "972505555555": "C",
        "972506666666": "C",
        "972507777777": "C",
    }
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
    _, first = await connect(pool, "972500000001")
    _, second = await connect(pool, "972500000002")
    assert (first, second) == (ids["A"], ids["B"])  # equally loaded: the first added (also in one millisecond)


async def test_fifty_concurrent_provisions_never_overfill(redis: aioredis.Redis) -> None:
    pool, _ = await make_pool(redis, "ABCDEFGHIJ", max_per_proxy=4)
    results = await asyncio.gather(
        *(pool.provision(FIELDS, f"97250{n:07d}", None) for n in range(50)), return_exceptions=True
    )
    created = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(created) == 40 and all(isinstance(r, NoProxyCapacity) for r in refused)
    assert all(len(p.sessions) == 4 for p in await pool.list())
    # Nothing half-created: exactly the 40 accepted sessions exist, ids without gaps.
    store = SessionStore(redis, SystemClock())
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
    assert (await SessionStore(redis, SystemClock()).get(sid)).generation == 1


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
    pool = ProxyPool(redis, SystemClock(), 4, 4, 1000, ID_KEY)
    sid, pid = await pool.provision(FIELDS, None, None)
    assert pid == "" and (await SessionStore(redis, SystemClock()).get(sid)).proxy == ""


def unkeyed_id(url: str) -> str:
    """The id an older waorch gave a proxy: a plain hash of its URL, password included."""
    return "px_" + hashlib.sha256(parse_proxy_url(url).url.encode()).hexdigest()[:10]


async def older_versions_proxy(redis: aioredis.Redis, url: str) -> str:
    """A proxy in the pool as an older waorch left it; its id."""
    old = unkeyed_id(url)
    await redis.hset(keys.proxy(old), mapping={"url": url, "status": "ok", "source": "env", "added": 1})
    await redis.zadd(keys.PROXIES, {old: 1})
    return old


async def test_ids_are_stable_but_cannot_be_computed_without_the_key(redis: aioredis.Redis) -> None:
    url = "socks5h://acct:pw-1234@10.0.0.1:1080"
    pool, again, other = (ProxyPool(redis, SystemClock(), 4, 4, 1000, key) for key in (ID_KEY, ID_KEY, "another-key"))
    proxy_id = (await pool.add(parse_proxy_url(url))).id
    assert proxy_id == again.id_of(parse_proxy_url(url)) != other.id_of(parse_proxy_url(url))
    assert proxy_id != unkeyed_id(url)
    guesses = {pool.id_of(parse_proxy_url(f"socks5h://acct:{guess}@10.0.0.1:1080")) for guess in ("pw-1234", "pw-1235")}
    assert len(guesses) == 2  # the password still tells proxies apart (the pool deduplicates by id)
    with pytest.raises(ProxyExists):
        await again.add(parse_proxy_url(url))


async def test_ids_of_an_older_version_are_renamed_with_every_reference(redis: aioredis.Redis) -> None:
    """A user upgrading keeps the pool: sessions keep their proxy, phones their sticky proxy, proxies their health."""
    url = "socks5h://acct:pw-1234@10.0.0.1:1080"
    old = await older_versions_proxy(redis, url)
    pool = ProxyPool(redis, SystemClock(), 4, 4, 60000, ID_KEY)
    kept, _ = await pool.provision(FIELDS, "972501111111", old)
    await pool.bind_phone(kept, "972501111111")
    gone, _ = await pool.provision(FIELDS, "972502222222", old)
    await pool.bind_phone(gone, "972502222222")
    await pool.release(gone)  # a deleted session's phone still sticks to the proxy
    await pool.mark_bad(old, "refused")

    assert await pool.rekey() == 1
    new = pool.id_of(parse_proxy_url(url))
    assert await redis.zrange(keys.PROXIES, 0, -1) == [new]
    assert not await redis.exists(keys.proxy(old), keys.proxy_sessions(old))
    info = await pool.get(new)
    assert (info.sessions, info.phones, info.status, info.reason) == ((kept,), ("972501111111",), "bad", "refused")
    assert (await SessionStore(redis, SystemClock()).get(kept)).proxy == new
    assert {await redis.get(f"waorch:phone:{phone}:proxy") for phone in ("972501111111", "972502222222")} == {new}
    assert await pool.rekey() == 0
    await pool.mark_ok(new)
    assert (await pool.provision(FIELDS, "972502222222", None))[1] == new  # the sticky rule still holds


async def test_a_proxy_added_under_its_new_id_while_the_core_started_is_merged(redis: aioredis.Redis) -> None:
    url = "socks5h://acct:pw-1234@10.0.0.1:1080"
    old = await older_versions_proxy(redis, url)
    pool = ProxyPool(redis, SystemClock(), 4, 4, 60000, ID_KEY)
    sid, _ = await pool.provision(FIELDS, None, old)
    new = (await pool.add(parse_proxy_url(url), exist_ok=True)).id
    assert await pool.rekey() == 1
    assert [info.id for info in await pool.list()] == [new] and (await pool.get(new)).sessions == (sid,)
    assert (await SessionStore(redis, SystemClock()).get(sid)).proxy == new


async def test_after_an_upgrade_the_api_shows_every_session_with_its_proxy(
    redis: aioredis.Redis, start_service
) -> None:
    url = "socks5h://acct:pw-1234@127.0.0.1:1"
    old = await older_versions_proxy(redis, url)
    sid, _ = await ProxyPool(redis, SystemClock(), 4, 4, 60000, ID_KEY).provision(
        {**FIELDS, "status": "stopped"}, None, old
    )
    running = await start_service()
    [proxy] = (await running.api.get("/api/proxies")).json()["proxies"]
    assert proxy["id"] != old and proxy["sessions"] == [sid] and proxy["url"] == "socks5h://***@127.0.0.1:1"
    session = (await running.api.get(f"/api/sessions/{sid}")).json()
    assert (session["proxyId"], session["proxy"]) == (proxy["id"], proxy["url"])
