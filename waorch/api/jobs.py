"""The daily jobs: when each runs next and how its last run went."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from waorch.api.inputs import only_queries
from waorch.api.routing import Route, core_of
from waorch.api.spec import errors, object_of
from waorch.core.jobs import JobResult, JobView

RESULT: dict[str, Any] = {
    "type": ["object", "null"],
    "description": "its last run (null before the first)",
    "required": ["slot", "at", "ok", "did"],
    "properties": {
        "slot": {"type": "number", "description": "the time it was due (that day's JOBS_AT), unix seconds"},
        "at": {"type": "number", "description": "when it ended, unix seconds"},
        "ok": {"type": "boolean", "description": "false: it failed (did says why; it was alerted)"},
        "did": {"type": "string", "description": "what it did, or why it failed"},
    },
}
JOB: dict[str, Any] = {
    "type": "object",
    "required": ["name", "nextRun", "last"],
    "properties": {
        "name": {"type": "string", "description": "summary, prune or backup"},
        "nextRun": {"type": "number", "description": "unix seconds (in the past while it is due or running)"},
        "last": RESULT,
    },
}


def result_json(result: JobResult | None) -> dict[str, Any] | None:
    """A job's last result as the API shows it."""
    if result is None:
        return None
    return {"slot": result.slot, "at": result.at, "ok": result.ok, "did": result.did}


def job_json(job: JobView) -> dict[str, Any]:
    """A job as the API shows it."""
    return {"name": job.name, "nextRun": job.next_run, "last": result_json(job.last)}


async def list_jobs(request: web.Request) -> web.Response:
    """``GET /api/jobs``: the daily time, its zone and each job."""
    core = core_of(request)
    only_queries(request)
    minute = core.settings.jobs_at_minute
    return web.json_response(
        {
            "at": f"{minute // 60:02d}:{minute % 60:02d}",
            "timezone": str(core.settings.timezone),
            "jobs": [job_json(job) for job in await core.reader.jobs.views()],
        }
    )


ROUTES = (
    Route(
        "GET",
        "/api/jobs",
        list_jobs,
        {
            "summary": "The daily jobs (at JOBS_AT in TIMEZONE, on the active core): next run and last result",
            "responses": {
                "200": object_of(
                    {
                        "at": {"type": "string", "description": "JOBS_AT, HH:MM"},
                        "timezone": {"type": "string", "description": "TIMEZONE"},
                        "jobs": {"type": "array", "items": JOB, "description": "in the order they run"},
                    },
                    "the jobs",
                ),
                **errors(400),
            },
        },
    ),
)
