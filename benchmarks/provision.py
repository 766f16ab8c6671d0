"""Time from provision request to QR stored, over 20 sessions; RSS of one idle sim worker.

Real parts: the embedded Valkey, the process runner (one worker process per session), the sim
engine against the simulator, PROVISIONING_INTERVAL_MS=0. Prints its figures; target p50 < 1.5 s.

    .venv/bin/python benchmarks/provision.py [--sessions 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time

from common import API_KEY, api_client, free_port, percentile, process_memory, qr_latency, worker_pid

from waorch.config import load_settings
from waorch.service import running_service
from waorch.sim.server import SimOptions, SimServer


async def main(sessions: int) -> None:
    sim = SimServer(SimOptions())
    await sim.start()
    with tempfile.TemporaryDirectory() as data:
        settings = load_settings(
            {
                "DATA_DIR": data,
                "API_KEY": API_KEY,
                "WEBHOOK_SECRET": "benchmark-secret-0123456789",
                "ORCH_PORT": str(free_port()),
                "WORKER_ENGINE": "sim",
                "SIM_URL": sim.url,
                "PROVISIONING_INTERVAL_MS": "0",
            }
        )
        async with running_service(settings, stop_workers=True) as service:
            async with api_client(service.base_url) as api:
                one_by_one = [
                    (await qr_latency(api, service.core.store, time.perf_counter()))[1] for _ in range(sessions)
                ]
                burst_start = time.perf_counter()
                burst = [
                    t
                    for _, t in await asyncio.gather(
                        *(qr_latency(api, service.core.store, burst_start) for _ in range(sessions))
                    )
                ]
                await asyncio.sleep(2)  # let the first worker settle (idle, QR shown)
                first = await service.core.store.get("worker_1")
                rss, uss = process_memory(worker_pid(first.worker))
    await sim.stop()
    print(
        f"provision -> QR stored, {sessions} sessions one after another: p50 {statistics.median(one_by_one):.3f} s, "
        f"p95 {percentile(one_by_one, 95):.3f} s, max {max(one_by_one):.3f} s (target p50 < 1.5 s)"
    )
    print(
        f"provision -> QR stored, {sessions} sessions at once:           p50 {statistics.median(burst):.3f} s, "
        f"p95 {percentile(burst, 95):.3f} s, max {max(burst):.3f} s"
    )
    print(f"idle sim worker: RSS {rss:.1f} MiB, private (USS) {uss:.1f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    asyncio.run(main(parser.parse_args().sessions))
