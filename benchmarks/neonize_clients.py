"""Many neonize clients in this one process, for the density table of ``benchmarks/worker_footprint.py``.

Each client is built as ``waorch/worker/neonize/engine.py`` builds its one: its own sqlite auth
database (``SessionFiles``), the same device props, a QR callback and handlers for the engine's
event types (no-ops here), and ``connect()`` with its own proxy (``ProxyRoute``). Each client's
connect holds one thread of the loop's default executor for the client's whole life, so the
executor is sized to the clients asked for (``--executor-threads``).

Commands come on stdin, one a line: ``connect NAME PROXY_URL`` starts a client whose database is
``DATA/NAME/session.sqlite3``. Answers go to stdout, one a line, each starting with ``@``:
``@ready`` once neonize is imported, ``@failed NAME SECONDS`` when a client's connect ends with an
error (seconds since its ``connect()``). The end of stdin ends the process at once (``os._exit``:
a client whose proxy never answers cannot be stopped), so it never outlives its parent.

    python benchmarks/neonize_clients.py DATA [--executor-threads 64]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

logging.basicConfig(level=logging.ERROR, stream=sys.stderr)  # before neonize configures the root logger

from waorch.worker.neonize.engine import PLATFORM  # noqa: E402
from waorch.worker.neonize.files import SessionFiles  # noqa: E402
from waorch.worker.neonize.lib import (  # noqa: E402
    ConnectedEv,
    ConnectFailureEv,
    DeviceProps,
    DisconnectedEv,
    KeepAliveTimeoutEv,
    LoggedOutEv,
    MessageEv,
    NewAClient,
    PairStatusEv,
    StreamReplacedEv,
    TemporaryBanEv,
)
from waorch.worker.neonize.route import ProxyRoute  # noqa: E402

EVENT_TYPES = (
    ConnectedEv,
    PairStatusEv,
    LoggedOutEv,
    DisconnectedEv,
    StreamReplacedEv,
    TemporaryBanEv,
    ConnectFailureEv,
    KeepAliveTimeoutEv,
    MessageEv,
)


def answer(*words: object) -> None:
    print("@" + " ".join(str(word) for word in words), flush=True)


async def ignore(_client: NewAClient, _event: Any) -> None:
    """The engine's handlers report to the orchestrator; here nothing is reported."""


def new_client(data: Path, name: str) -> NewAClient:
    """A client on its own database, shown as the engine shows it, with handlers for the engine's events."""
    database = SessionFiles(data / name).prepare()
    client = NewAClient(name=str(database), props=DeviceProps(os="waorch density", platformType=PLATFORM))
    client.event.qr(ignore)
    for event_type in EVENT_TYPES:
        client.event(event_type)(ignore)
    return client


async def connect(data: Path, name: str, proxy_url: str, clients: list[NewAClient]) -> None:
    """Start one client through its proxy; report if its connect ends with an error."""
    client = new_client(data, name)
    clients.append(client)
    started = time.monotonic()
    task = await client.connect(ProxyRoute.from_url(proxy_url).settings())
    try:
        await task
    except Exception:  # noqa: BLE001  # NeonizeError: the proxy refused or closed
        answer("failed", name, f"{time.monotonic() - started:.4f}")


def read_commands(loop: asyncio.AbstractEventLoop, commands: asyncio.Queue[str]) -> None:
    """Forward stdin's lines to the loop; at its end, end the process (hung clients cannot be stopped)."""
    for line in sys.stdin:
        loop.call_soon_threadsafe(commands.put_nowait, line)
    os._exit(0)


async def main(data: Path, executor_threads: int) -> None:
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(executor_threads, thread_name_prefix="neonize"))
    commands: asyncio.Queue[str] = asyncio.Queue()
    threading.Thread(target=read_commands, args=(loop, commands), daemon=True).start()
    clients: list[NewAClient] = []  # each client lives as long as the process
    tasks: set[asyncio.Task[None]] = set()
    answer("ready")
    while True:
        _verb, name, proxy_url = (await commands.get()).split()
        tasks.add(asyncio.create_task(connect(data, name, proxy_url, clients)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="directory for the clients' auth databases")
    parser.add_argument("--executor-threads", type=int, default=64, help="threads of the default executor")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.data, arguments.executor_threads))
