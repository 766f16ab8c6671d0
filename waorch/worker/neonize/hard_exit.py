"""Ending a worker process whose client library hangs.

A neonize call that never returns (a proxy that accepts TCP but never answers, a QR phase that
``stop()`` cannot end) keeps its thread busy, and the interpreter waits for that thread at exit.
After a grace period for the worker to deliver its last events, the process ends with ``os._exit``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading

log = logging.getLogger(__name__)

EXIT_HUNG = 5


def _exit_now(code: int) -> None:
    log.error("a neonize call never returned: ending the process (exit code %d)", code)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def exit_hard_later(seconds: float, code: int) -> threading.Timer:
    """End the process with ``code`` in ``seconds``, whatever its other threads are doing."""
    timer = threading.Timer(seconds, _exit_now, args=(code,))
    timer.daemon = True
    timer.start()
    return timer
