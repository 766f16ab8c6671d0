"""Requests per second of ``POST /api/v1/send`` against a bare aiohttp handler, side by side.

Both servers run as their own processes on loopback and are driven by the same load generator
(another process: aiohttp client, fixed concurrency, fixed duration, the same request bodies).
Rounds are interleaved (bare, waorch, bare, ...) so both see the same machine; the medians count.
waorch runs as ``waorch serve`` on its embedded Redis (append-only file fsynced on every write,
and a ``WAITAOF`` covering the write before each 202; concurrent requests share one round trip
and one ``WAITAOF``) with one connected, paused session on a tier whose daily limit is out of
reach, so every request goes through the API key check, validation (phonenumbers), the session
and daily-limit checks and the durable write. Target: ratio >= 0.5.

Recipients: each request names one of ``--recipients`` distinct valid numbers (default 4000, in
turn). waorch keeps parsed numbers in an LRU cache (``phones.CACHED`` entries), so after the
first pass they are cache hits, as repeat recipients of notification traffic are; pass more
recipients than the cache holds to measure parsing every number.

Fairness: both servers run on the default asyncio event loop and the standard-library ``json``
(waorch uses neither uvloop nor orjson). Same loop for both is the fair choice: the ratio is
meant to show what waorch's work costs on top of aiohttp, and a faster loop under one server
only would measure the loop instead. The bare handler parses the JSON body and answers JSON.
The load generator shares the machine's cores with the server it drives, so on a 2-core machine
the bare figure is partly bounded by the generator itself.

    .venv/bin/python benchmarks/ingest.py [--seconds 5] [--concurrency 32] [--rounds 5] [--recipients 4000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx
import phonenumbers
import redis
from common import free_port

from waorch.core import keys

API_KEY = "benchmark-api-key-0123456789"
# Israeli, German and British mobile prefixes; the national digits are drawn at random.
PREFIXES = [("+97250", 7), ("+97252", 7), ("+97254", 7), ("+4915", 8), ("+4917", 8), ("+447", 9)]

BARE_SERVER = """
import sys
from aiohttp import web

async def send(request):
    body = await request.json()
    return web.json_response({"queued": True, "messageId": "msg_x", "to": body["to"]}, status=202)

app = web.Application()
app.router.add_post("/api/v1/send", send)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""

LOAD = """
import asyncio, itertools, json, sys, time
import aiohttp

async def main(url, seconds, concurrency, headers, bodies):
    done = errors = 0
    deadline = time.perf_counter() + seconds
    turn = itertools.cycle(bodies)
    async with aiohttp.ClientSession(headers=headers) as http:
        async def worker():
            nonlocal done, errors
            while time.perf_counter() < deadline:
                async with http.post(url, data=next(turn)) as response:
                    await response.read()
                    if response.status == 202:
                        done += 1
                    else:
                        errors += 1
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        print(json.dumps({"rps": done / (time.perf_counter() - start), "errors": errors}))

url, seconds, concurrency, headers = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
asyncio.run(main(url, seconds, concurrency, headers, [body.encode() for body in json.load(sys.stdin)]))
"""


def recipients(count: int) -> list[str]:
    """``count`` distinct valid mobile numbers (E.164), the same ones every run."""
    rng, numbers = random.Random(1), set()
    while len(numbers) < count:
        prefix, digits = rng.choice(PREFIXES)
        number = prefix + str(rng.randrange(10**digits)).zfill(digits)
        if phonenumbers.is_valid_number(phonenumbers.parse(number)):
            numbers.add(number)
    ordered = sorted(numbers)
    rng.shuffle(ordered)
    return ordered


def bodies(count: int) -> list[str]:
    """The request bodies, one per recipient."""
    return [json.dumps({"to": to, "message": "benchmark message", "sessionId": "worker_1"}) for to in recipients(count)]


def wait_up(url: str, headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, headers=headers, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise TimeoutError(url)


def load(url: str, seconds: float, concurrency: int, headers: dict[str, str], payloads: list[str]) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", LOAD, url, str(seconds), str(concurrency), json.dumps(headers)],
        input=json.dumps(payloads),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def start_waorch(data: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(data),
        "DATA_DIR": str(data),
        "ORCH_PORT": str(port),
        "API_KEY": API_KEY,
        "WEBHOOK_SECRET": "benchmark-secret-0123456789",
        "WORKER_ENGINE": "sim",
        "SIM_URL": "http://127.0.0.1:9",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "waorch", "serve"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_up(f"http://127.0.0.1:{port}/health")
    return process, port


def prepare_session(data: Path, port: int) -> None:
    """One connected, paused session (no worker: nothing is sent) and a tier with room for the run."""
    tier = {
        "name": "bench",
        "minAgeDays": 0,
        "dailyLimit": 100_000,
        "perMinute": 30,
        "delayMinMs": 2000,
        "delayMaxMs": 4000,
        "hoursStart": "00:00",
        "hoursEnd": "24:00",
    }
    httpx.put(
        f"http://127.0.0.1:{port}/api/trust-tiers", json={"tiers": [tier]}, headers={"X-API-Key": API_KEY}
    ).raise_for_status()
    client = redis.Redis(unix_socket_path=str(data / "redis" / "redis.sock"), decode_responses=True)
    session = {"id": "worker_1", "status": "connected", "paused": 1, "created": time.time()}
    client.hset(keys.session("worker_1"), mapping=session)
    client.zadd(keys.SESSIONS, {"worker_1": 1})
    client.close()


def listing(runs: list[dict[str, float]]) -> str:
    return ", ".join(f"{run['rps']:.0f}" for run in runs)


def main(seconds: float, concurrency: int, rounds: int, recipient_count: int) -> None:
    payloads = bodies(recipient_count)
    bare_port = free_port()
    bare = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(BARE_SERVER), str(bare_port)], stdout=subprocess.DEVNULL
    )
    with tempfile.TemporaryDirectory() as tmp:
        waorch, port = start_waorch(Path(tmp))
        try:
            prepare_session(Path(tmp), port)
            wait_up(f"http://127.0.0.1:{bare_port}/")
            bare_runs, waorch_runs = [], []
            for _ in range(rounds):  # interleaved, so both see the same machine
                bare_runs.append(load(f"http://127.0.0.1:{bare_port}/api/v1/send", seconds, concurrency, {}, payloads))
                waorch_runs.append(
                    load(
                        f"http://127.0.0.1:{port}/api/v1/send",
                        seconds,
                        concurrency,
                        {"X-API-Key": API_KEY, "content-type": "application/json"},
                        payloads,
                    )
                )
        finally:
            for process in (waorch, bare):
                process.terminate()
                process.wait(20)
    bare_rps = statistics.median(run["rps"] for run in bare_runs)
    waorch_rps = statistics.median(run["rps"] for run in waorch_runs)
    errors = sum(run["errors"] for run in bare_runs + waorch_runs)
    print(f"bare aiohttp handler:  {bare_rps:8.0f} requests/s (median of {rounds}: {listing(bare_runs)})")
    print(
        f"waorch /api/v1/send:   {waorch_rps:8.0f} requests/s (median of {rounds}: {listing(waorch_runs)}; "
        "durable before each 202)"
    )
    print(
        f"ratio: {waorch_rps / bare_rps:.2f} (target >= 0.5); {concurrency} concurrent clients, "
        f"{seconds:.0f} s per run, "
        f"{recipient_count} recipients, {errors} errors"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--recipients", type=int, default=4000)
    args = parser.parse_args()
    main(args.seconds, args.concurrency, args.rounds, args.recipients)
