"""Where waorch's words go: the log format, the control room's log file, the command line's stream and
one-line notes."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import TextIO

from waorch.private_files import private_dir, private_file

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_to_stream(stream: TextIO, level: int = logging.INFO) -> None:
    """Every log record to ``stream`` (``waorch serve``: stderr; a worker: stdout, its log file)."""
    logging.basicConfig(stream=stream, level=level, format=LOG_FORMAT)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def log_to_file(data_dir: Path) -> None:
    """Send every log record to ``DATA_DIR/waorch.log`` (nothing may write to the terminal but Textual)."""
    path = private_file(private_dir(data_dir) / "waorch.log")  # phone numbers, tracebacks: the owner's alone
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def say(line: str) -> None:
    """One line on stderr (nothing if the terminal is gone: a hang-up must not end in a traceback)."""
    with contextlib.suppress(OSError):
        print(f"waorch: {line}", file=sys.stderr, flush=True)
