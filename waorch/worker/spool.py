"""The worker's event spool: events the orchestrator has not accepted yet, kept in the auth dir.

An event is appended (and fsynced) before it is queued for delivery, and marked delivered once
the orchestrator accepted it, so an incoming message or a send outcome survives the orchestrator
being down, the worker being stopped or killed, and the host rebooting: the next worker of the
session delivers what is left, in order, before anything new. A delivery mark is not fsynced (a
mark lost in a crash delivers that event again; the orchestrator drops duplicates). The file is
emptied whenever nothing is left to deliver, and rewritten without delivered events when marks
pile up during a long outage.

Lines: ``{"seq": n, "event": {...}}`` for an event, ``{"done": n}`` for a delivered one.
"""

from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from pathlib import Path

from waorch.worker.durable import append_synced, replace_synced

log = logging.getLogger("waorch.worker.spool")

SPOOL_FILE = "event-spool.jsonl"
COMPACT_AFTER = 1000  # delivery marks in the file before it is rewritten with what is left


class EventSpool:
    """Undelivered events on disk, oldest first, each with a sequence number."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / SPOOL_FILE
        self._pending: OrderedDict[int, bytes] = OrderedDict()  # seq → event JSON
        self._marks = 0
        self._next = 1
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        content = self.path.read_bytes()
        for line in content.splitlines():
            self._apply(line)
        self._next = max(self._pending, default=0) + 1
        if self._pending:
            log.info("%d undelivered event(s) from before this start", len(self._pending))
        if content and not content.endswith(b"\n"):  # torn by a crash: what is appended next must start a line
            self._compact()

    def _apply(self, line: bytes) -> None:
        try:
            entry = json.loads(line)
            if "done" in entry:
                self._pending.pop(int(entry["done"]), None)
                self._marks += 1
            else:
                self._pending[int(entry["seq"])] = json.dumps(entry["event"]).encode()
        except (ValueError, KeyError, TypeError):
            pass  # a torn last line after a crash

    def pending(self) -> list[tuple[int, bytes]]:
        """Undelivered events, oldest first: ``(seq, event JSON)``."""
        return list(self._pending.items())

    def add(self, event: bytes) -> int:
        """Keep an event on disk; its sequence number (0 if the disk refused it: it is then only
        delivered by this process)."""
        seq = self._next
        try:
            append_synced(self.path, _line(seq, event))
        except OSError as error:
            log.error("event not spooled (%s): it is lost if this worker ends before delivering it", error)
            return 0
        self._next += 1
        self._pending[seq] = event
        return seq

    def delivered(self, seq: int) -> None:
        """The orchestrator accepted event ``seq``: it is not delivered again."""
        if self._pending.pop(seq, None) is None:
            return
        try:
            if not self._pending:
                self._empty()
            elif self._marks >= COMPACT_AFTER:
                self._compact()
            else:
                self._mark(seq)
        except OSError as error:
            log.warning("delivery of event %d not recorded (%s): it may be delivered again", seq, error)

    def _mark(self, seq: int) -> None:
        with open(self.path, "ab") as spool:
            spool.write(b'{"done":%d}\n' % seq)
        self._marks += 1

    def _empty(self) -> None:
        os.truncate(self.path, 0)
        self._marks = 0

    def _compact(self) -> None:
        replace_synced(self.path, b"".join(_line(seq, event) for seq, event in self._pending.items()))
        self._marks = 0


def _line(seq: int, event: bytes) -> bytes:
    return b'{"seq":%d,"event":%s}\n' % (seq, event)
