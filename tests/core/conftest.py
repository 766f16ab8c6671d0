"""Fixtures of the core's own tests: the lease an active core holds, and sessions in the real pool."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from waorch.clock import SystemClock
from waorch.core.lease import CoreLease
from waorch.core.proxy_pool import ProxyPool


@pytest.fixture
async def lease(redis: aioredis.Redis) -> CoreLease:
    lease = CoreLease(redis, "http://127.0.0.1:9", 10_000)
    await lease.acquire()
    return lease


@pytest.fixture
async def sessions(redis: aioredis.Redis) -> list[str]:
    pool = ProxyPool(redis, SystemClock(), 4, 4, 60000, "test-proxy-id-key")
    return [
        (await pool.provision({"status": "connected", "created": "0", "generation": "0"}, None, None))[0]
        for _ in range(2)
    ]
