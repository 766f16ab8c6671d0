"""The daily jobs in words, for a notice of the control room (command palette: "Scheduled jobs")."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from waorch.core.jobs import JobView
from waorch.shorten import shorten


def jobs_text(views: list[JobView], zone: ZoneInfo, now: float) -> str:
    """One line per job: ``prune: next 11-20 03:30 · last 11-19 03:30 ok: dropped …``."""
    if not views:
        return "No daily jobs yet: they are planned when a core starts."
    return "\n".join(_line(view, zone, now) for view in views)


def _line(view: JobView, zone: ZoneInfo, now: float) -> str:
    upcoming = "due now" if view.next_run <= now else f"next {_when(view.next_run, zone)}"
    if view.last is None:
        return f"{view.name}: {upcoming} · never run"
    outcome = "ok" if view.last.ok else "FAILED"
    return shorten(f"{view.name}: {upcoming} · last {_when(view.last.at, zone)} {outcome}: {view.last.did}", 160)


def _when(ts: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, zone).strftime("%m-%d %H:%M")
