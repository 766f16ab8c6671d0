"""The ``waorch`` command: ``tui`` (the default), ``serve``, ``sim``, ``worker``, ``demo``, and the backups
(``backup``, ``backups``, ``restore``).

This is the edge: the only place that reads the process environment and ``.env``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from waorch.config import Settings, load_worker_settings, settings_from_environment
from waorch.errors import ConfigError, WaorchError
from waorch.logs import LOG_FORMAT, log_to_stream, say
from waorch.private_files import UMASK, private_dir

log = logging.getLogger("waorch")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="waorch", description="Run a fleet of WhatsApp sessions.")
    parser.add_argument("--env-file", type=Path, default=Path(".env"), help="variables file (default: ./.env)")
    parser.set_defaults(command="tui", port=None, stop_workers=False, readonly=False)
    commands = parser.add_subparsers(dest="command")
    # --- control room (bare `waorch` opens it) ---
    tui = commands.add_parser("tui", help="the control room: core + HTTP API + terminal UI (the default)")
    tui.add_argument("--readonly", action="store_true", help="watch only: every action is refused")
    tui.add_argument("--port", type=int, help="overrides ORCH_PORT")
    # --- end control room ---
    serve = commands.add_parser("serve", help="headless core + HTTP API on ORCH_PORT")
    serve.add_argument("--port", type=int, help="overrides ORCH_PORT")
    serve.add_argument(
        "--stop-workers", action="store_true", help="stop every worker on exit (default: keep them running)"
    )
    sim = commands.add_parser("sim", help="the WhatsApp network simulator, on loopback")
    sim.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    sim.add_argument("--qr-first-ttl", type=float, default=60.0, help="seconds the first QR lives")
    sim.add_argument("--qr-ttl", type=float, default=20.0, help="seconds each later QR lives")
    sim.add_argument("--qr-count", type=int, default=6, help="QR codes before the QR phase ends")
    sim.add_argument("--state", type=Path, help="JSON file keeping paired devices across restarts")
    commands.add_parser("worker", help="one session's worker (started by a runner)")
    commands.add_parser("worker-host", help="several sessions' workers in one process (SESSIONS_PER_WORKER)")
    demo = commands.add_parser("demo", help="try the control room on a simulated network (nothing real is touched)")
    demo.add_argument(
        "--sessions", type=int, default=4, choices=range(0, 10), metavar="0-9", help="sessions to start with"
    )
    _backup_commands(commands)
    return parser


def _backup_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands.add_parser("backup", help="take a backup now (through the active core, or as one if none runs)")
    commands.add_parser("backups", help="list the backups in BACKUPS_DIR, newest first")
    restore = commands.add_parser("restore", help="restore a backup of BACKUPS_DIR (onto a fleet with no sessions)")
    restore.add_argument("name", help="the backup's file name (see `waorch backups`)")
    restore.add_argument("--replace", action="store_true", help="replace the sessions there are (stopped, deleted)")


def _run_backups(args: argparse.Namespace) -> int:
    settings = _load(args)
    log_to_stream(sys.stderr, logging.WARNING)
    from waorch import backup_command

    if args.command == "backup":
        return asyncio.run(backup_command.take(settings))
    if args.command == "backups":
        return asyncio.run(backup_command.listing(settings))
    return asyncio.run(backup_command.restore(settings, args.name, args.replace))


def _load(args: argparse.Namespace) -> Settings:
    environ = dict(os.environ)
    if getattr(args, "port", None):
        environ["ORCH_PORT"] = str(args.port)
    return settings_from_environment(environ, args.env_file)


def _run_sim(args: argparse.Namespace) -> int:
    from waorch.sim.server import SimOptions, serve_forever

    options = SimOptions(
        port=args.port,
        qr_first_ttl=args.qr_first_ttl,
        qr_ttl=args.qr_ttl,
        qr_count=args.qr_count,
        state_path=args.state,
    )
    asyncio.run(serve_forever(options))
    return 0


def _run_worker() -> int:
    log_to_stream(sys.stdout)
    settings = load_worker_settings(os.environ)
    from waorch.worker.main import run_worker

    return asyncio.run(run_worker(settings))


def _run_worker_host() -> int:
    from waorch.worker.host import run_host

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    return run_host(os.environ, handler)


def _run_serve(args: argparse.Namespace) -> int:
    settings = _load(args)
    private_dir(settings.data_dir)
    log_to_stream(sys.stderr)
    from waorch.serve import serve

    return asyncio.run(serve(settings, args.stop_workers))


# --- control room ---
def _run_tui(args: argparse.Namespace) -> int:
    settings = _load(args)
    if settings.redis_url:  # say it here, in one line, rather than in a control room that cannot work
        from waorch.core.redis_server import reach

        asyncio.run(reach(settings.redis_url))
    from waorch.tui.app import run

    run(settings, readonly=args.readonly)
    return 0


# --- end control room ---


def _run_demo(args: argparse.Namespace) -> int:
    from waorch.demo import run_demo

    asyncio.run(run_demo(args.sessions))
    say("demo: the simulation stopped; its workers, Redis and data are gone.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``waorch`` console script."""
    args = _parser().parse_args(argv)
    os.umask(UMASK)  # every file waorch and its workers create is its owner's alone
    try:
        if args.command == "sim":
            return _run_sim(args)
        if args.command == "worker":
            return _run_worker()
        if args.command == "worker-host":
            return _run_worker_host()
        if args.command == "demo":
            return _run_demo(args)
        if args.command in ("backup", "backups", "restore"):
            return _run_backups(args)
        if args.command in ("tui", None):  # bare `waorch` opens the control room
            return _run_tui(args)
        return _run_serve(args)
    except ConfigError as error:
        say(f"configuration error: {error}")
        return 2
    except WaorchError as error:
        say(str(error))
        return 1
    except KeyboardInterrupt:
        return 130
