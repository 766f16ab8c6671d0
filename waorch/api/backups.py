"""Backups: list them, take one now, restore one (onto an empty fleet, or replacing it when told to)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from waorch.api.inputs import JsonObject, only_queries
from waorch.api.routing import Route, core_of
from waorch.api.spec import errors, json_of, object_of, ref
from waorch.core.backups import BackupInfo, RestoreResult
from waorch.errors import BadRequest

NULLABLE_INTEGER = {"type": ["integer", "null"]}
BACKUP: dict[str, Any] = {
    "type": "object",
    "required": ["name", "createdAt", "size", "sessions", "messages"],
    "properties": {
        "name": {"type": "string", "description": "file name in BACKUPS_DIR"},
        "createdAt": {"type": "number", "description": "taken, unix seconds"},
        "size": {"type": "integer", "description": "bytes"},
        "sessions": {**NULLABLE_INTEGER, "description": "sessions in it (null: its manifest cannot be read)"},
        "messages": {**NULLABLE_INTEGER, "description": "messages in it (null: its manifest cannot be read)"},
    },
}
RESTORE = JsonObject(
    {"replace": {"type": "boolean", "description": "replace the sessions there are (default false: refused)"}},
    example={"replace": False},
)
BAD_ARCHIVE = (
    "the name is not an archive's (INVALID_BACKUP_NAME), or the archive cannot be restored and nothing changed: "
    "BACKUP_CORRUPT (truncated, damaged, a checksum differs), BACKUP_FOREIGN (not a waorch backup), "
    "BACKUP_TOO_NEW (a newer backup format), BACKUP_UNSAFE (a member outside its directory, a link or a device)"
)
NAME_CODES = ("INVALID_BACKUP_NAME", "BACKUP_CORRUPT", "BACKUP_FOREIGN", "BACKUP_TOO_NEW", "BACKUP_UNSAFE")


def backup_json(info: BackupInfo) -> dict[str, Any]:
    """A backup as the API shows it."""
    return {
        "name": info.name,
        "createdAt": info.created,
        "size": info.size,
        "sessions": info.sessions,
        "messages": info.messages,
    }


def backup_from_json(body: dict[str, Any]) -> BackupInfo:
    """A backup as the API answered it (for a client of the API)."""
    sessions, messages = body["sessions"], body["messages"]
    return BackupInfo(
        str(body["name"]),
        float(body["createdAt"]),
        int(body["size"]),
        None if sessions is None else int(sessions),
        None if messages is None else int(messages),
    )


def restore_from_json(body: dict[str, Any]) -> RestoreResult:
    """A restore's result as the API answered it."""
    return RestoreResult(str(body["name"]), int(body["sessions"]), int(body["keys"]), tuple(map(str, body["held"])))


def restore_json(result: RestoreResult) -> dict[str, Any]:
    """What a restore brought back."""
    return {"name": result.name, "sessions": result.sessions, "keys": result.keys, "held": list(result.held)}


async def list_backups(request: web.Request) -> web.Response:
    """``GET /api/backups``: the archives in ``BACKUPS_DIR``, newest first."""
    only_queries(request)
    core = core_of(request)
    return web.json_response(
        {
            "directory": str(core.settings.backups_dir),
            "keep": core.settings.max_backups,
            "backups": [backup_json(info) for info in await core.backups.archives()],
        }
    )


async def take_backup(request: web.Request) -> web.Response:
    """``POST /api/backups``: a backup now (201)."""
    only_queries(request)
    await JsonObject({}).read(request)
    return web.json_response(backup_json(await core_of(request).backups.take()), status=201)


async def restore_backup(request: web.Request) -> web.Response:
    """``POST /api/backups/{name}/restore {replace?}``."""
    only_queries(request)
    body = await RESTORE.read(request)
    replace = body.get("replace", False)
    if not isinstance(replace, bool):
        raise BadRequest("replace must be true or false")
    result = await core_of(request).backups.restore(request.match_info["name"], replace=replace)
    return web.json_response(restore_json(result))


ROUTES = (
    Route(
        "GET",
        "/api/backups",
        list_backups,
        {
            "summary": "The backups in BACKUPS_DIR, newest first (the newest MAX_BACKUPS that waorch took are kept)",
            "responses": {
                "200": object_of(
                    {
                        "directory": {"type": "string"},
                        "keep": {"type": "integer", "description": "MAX_BACKUPS"},
                        "backups": {"type": "array", "items": BACKUP},
                    },
                    "backups",
                ),
                **errors(400),
            },
        },
    ),
    Route(
        "POST",
        "/api/backups",
        take_backup,
        {
            "summary": "Take a backup now: login data of every session, the orchestrator's state, a manifest",
            "requestBody": JsonObject({}).spec(),
            "responses": {
                "201": json_of(BACKUP, "the backup written"),
                **errors(400, unavailable=("BACKUP_FAILED",)),
            },
        },
    ),
    Route(
        "POST",
        "/api/backups/{name}/restore",
        restore_backup,
        {
            "summary": "Restore a backup: its sessions start again with their login data (no QR); sessions that "
            "had messages waiting come back paused (held), to be resumed once the old machine is known not to "
            "have sent them",
            "requestBody": RESTORE.spec(),
            "responses": {
                "200": object_of(
                    {
                        "name": {"type": "string"},
                        "sessions": {"type": "integer", "description": "sessions restored"},
                        "keys": {"type": "integer", "description": "Redis keys written"},
                        "held": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "sessions whose queue is paused: they had messages waiting",
                        },
                    },
                    "restored",
                ),
                "400": json_of(
                    {"allOf": [ref("Error")], "properties": {"error": {"enum": ["BAD_REQUEST", *NAME_CODES]}}},
                    BAD_ARCHIVE,
                ),
                **errors(404, 409),
            },
        },
    ),
)
