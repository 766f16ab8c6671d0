"""What waorch says about its Redis: URLs without credentials, outages told from our own faults."""

from __future__ import annotations

import pytest
from redis import exceptions

from waorch.core.redis_server import is_full, is_outage, problem_of
from waorch.redis_url import redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@db.internal:6379/3", "redis://***@db.internal:6379/3"),
        ("rediss://fleet:s3cret@db.internal:6380/0", "rediss://***@db.internal:6380/0"),
        ("redis://fleet@db.internal", "redis://***@db.internal"),
        (
            "redis://db.internal:6379/0?password=s3cret&username=fleet&socket_timeout=5",
            "redis://db.internal:6379/0?password=***&username=***&socket_timeout=5",
        ),
        ("unix://:s3cret@/run/redis/redis.sock?db=2", "unix://***@/run/redis/redis.sock?db=2"),
        ("unix:///run/redis/redis.sock", "unix:///run/redis/redis.sock"),
        ("redis://:s3cret@[::1:6379/0", "redis://(unreadable URL)"),
    ],
)
def test_a_redis_url_is_shown_without_user_or_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "s3cret" not in redact_url(url) and "fleet" not in redact_url(url)


def test_an_outage_is_told_from_a_fault_of_ours() -> None:
    refused = exceptions.ConnectionError(
        "Error 111 connecting to 127.0.0.1:6379. Connect call failed ('127.0.0.1', 6379)."
    )
    assert is_outage(refused) and problem_of(refused) == "Connection refused"
    assert is_outage(exceptions.BusyLoadingError("Redis is loading the dataset in memory"))
    assert is_outage(exceptions.TimeoutError("Timeout reading from socket"))
    assert is_outage(
        exceptions.ResponseError("MISCONF Redis is configured to save RDB snapshots, but it's unable to persist")
    )
    assert is_outage(exceptions.ReadOnlyError("READONLY You can't write against a read only replica."))
    assert not is_outage(exceptions.AuthenticationError("invalid username-password pair"))
    assert not is_outage(exceptions.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"))
    assert is_full(exceptions.ResponseError("OOM command not allowed when used memory > 'maxmemory'."))
    assert not is_outage(exceptions.ResponseError("OOM command not allowed when used memory > 'maxmemory'."))
    assert is_full(
        exceptions.OutOfMemoryError("command not allowed when used memory > 'maxmemory'.")
    )  # as redis-py raises it
