"""The worker process: one session's engine, its event emitter, command endpoint and pings."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
from collections.abc import Callable

from waorch.cancel import cancel_and_wait
from waorch.config import WorkerSettings
from waorch.signing import CHANNEL_VERSION
from waorch.worker.commands import CommandServer
from waorch.worker.emitter import Emitter
from waorch.worker.engine import Engine, EngineConfig
from waorch.worker.journal import SendJournal
from waorch.worker.spool import EventSpool

log = logging.getLogger("waorch.worker")

ENGINES = {
    "sim": "waorch.worker.sim_engine:SimEngine",
    "neonize": "waorch.worker.neonize.engine:NeonizeEngine",
}
# How a worker's end reads to its runner (EXIT_HUNG = 5 is the neonize hang watchdog's hard exit).
EXIT_CODES = {
    "stopped": 0,
    "logged_out": 0,
    "temporary_ban": 0,
    "proxy_error": 3,
    "qr_timeout": 4,
    "hung": 5,
    "stream_replaced": 6,
    "client_outdated": 7,
    "auth_failure": 8,
    "connect_failure": 9,
}


def create_engine(settings: WorkerSettings, hosted: bool = False) -> Engine:
    """Build the configured engine (imported lazily: neonize is heavy); ``hosted``: one of a worker host's
    sessions (the host owns the thread pool, and a hung client must not end the process)."""
    module_name, _, class_name = ENGINES[settings.engine].partition(":")
    engine_class: Callable[[EngineConfig], Engine] = getattr(importlib.import_module(module_name), class_name)
    return engine_class(
        EngineConfig(
            session_id=settings.session_id,
            auth_dir=settings.auth_dir,
            proxy_url=settings.proxy_url.url if settings.proxy_url else None,
            sim_url=settings.sim_url,
            device_name=settings.device_name,
            options={
                "connect_timeout": settings.connect_timeout_ms / 1000,
                **({"executor_threads": 0, "hard_exit": 0} if hosted else {}),
            },
        )
    )


def prepare_auth_dir(settings: WorkerSettings) -> None:
    """Create the auth dir private to its owner (0700)."""
    settings.auth_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(settings.auth_dir, 0o700)


async def _stop_when(event: asyncio.Event, engine: Engine) -> None:
    await event.wait()
    await engine.stop()


async def _ping_forever(emitter: Emitter, command_url: str, interval: float) -> None:
    while True:
        await emitter.emit("PING", {"commandUrl": command_url, "pid": os.getpid(), "channel": CHANNEL_VERSION})
        await asyncio.sleep(interval)


async def run_worker(settings: WorkerSettings, stop_when: asyncio.Event | None = None) -> int:
    """Run until the engine ends (stop, logout, proxy error, QR timeout); return the exit code. Stopped by
    SIGTERM / SIGINT, or (a session of a worker host, which owns the signals) once ``stop_when`` is set."""
    prepare_auth_dir(settings)
    engine = create_engine(settings, hosted=stop_when is not None)
    emitter = Emitter(
        settings.webhook_url,
        settings.webhook_key,
        settings.session_id,
        settings.generation,
        EventSpool(settings.auth_dir),
    )
    loop = asyncio.get_running_loop()
    stop = lambda: loop.create_task(engine.stop())  # noqa: E731
    watchers: list[asyncio.Task[None]] = []
    if stop_when is None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
    else:
        watchers.append(loop.create_task(_stop_when(stop_when, engine)))
    commands = CommandServer(engine, emitter, settings.command_key, stop, SendJournal(settings.auth_dir))
    await emitter.start()
    await commands.start(settings.command_host, settings.command_port)
    command_url = f"http://{settings.advertise_host or settings.command_host}:{commands.port}"
    watchers.append(asyncio.create_task(_ping_forever(emitter, command_url, settings.ping_interval_ms / 1000)))
    try:
        reason = await engine.run(emitter)
    finally:
        await cancel_and_wait(*watchers)
        await commands.close()
        await emitter.close()
    log.info("worker %s ends: %s", settings.session_id, reason)
    return EXIT_CODES.get(reason, 1)
