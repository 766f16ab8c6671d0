"""The trust tier table (read, replace as a whole) and a session's pin to a tier."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from aiohttp import web

from waorch.api.inputs import JsonObject, json_body
from waorch.api.routing import Route, core_of
from waorch.api.sessions import session_answer
from waorch.api.spec import body_of, errors, json_of, ref
from waorch.core.tiers import CAPS, DEFAULT_TIERS, FIELDS, NAME, Tier, cap_defaults, check_tiers
from waorch.errors import InvalidTiers

JSON_TYPES: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "float": (int, float)}  # by Tier's annotations
KINDS = {field.name: JSON_TYPES[str(field.type)] for field in fields(Tier)}
HOURS = {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$"}


def _schema(attribute: str, maximum: int | None) -> dict[str, Any]:
    if attribute == "name":
        return {"type": "string", "pattern": f"^{NAME.pattern}$"}
    if maximum is None:
        return HOURS
    return {"type": "number" if float in KINDS[attribute] else "integer", "minimum": 0, "maximum": maximum}


TIER: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [field.name for field in FIELDS if field.attribute not in CAPS],  # a left-out cap: its default
    "properties": {field.name: _schema(field.attribute, field.maximum) for field in FIELDS},
}
TIERS = {"type": "object", "required": ["tiers"], "properties": {"tiers": {"type": "array", "items": TIER}}}
PIN = JsonObject({"tier": {"type": ["string", "null"]}}, ("tier",), {"tier": "warm"}, code="INVALID_TIERS")


def tier_json(tier: Tier) -> dict[str, Any]:
    """A tier as the table is written (camelCase)."""
    return {field.name: getattr(tier, field.attribute) for field in FIELDS}


def _value(row: dict[str, Any], attribute: str, name: str, where: str) -> Any:
    value = row[name]
    if isinstance(value, bool) or not isinstance(value, KINDS[attribute]):
        raise InvalidTiers(f"{where}: {name} has the wrong type")
    return value


def tier_from_json(row: object, where: str) -> Tier:
    """One tier from its written form (``INVALID_TIERS`` naming ``where`` and the field); values are checked
    with the whole table (``check_tiers``)."""
    if not isinstance(row, dict):
        raise InvalidTiers(f"{where}: must be an object")
    if unknown := row.keys() - {field.name for field in FIELDS}:
        raise InvalidTiers(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    given = {field.attribute: _value(row, field.attribute, field.name, where) for field in FIELDS if field.name in row}
    missing = [field.name for field in FIELDS if field.name not in row and field.attribute not in CAPS]
    if missing:
        raise InvalidTiers(f"{where}: {missing[0]} is required")
    return Tier(**(cap_defaults(given["name"]) | given))


def tiers_from_json(document: object) -> tuple[Tier, ...]:
    """A whole table, ``{"tiers": [...]}`` or the list alone, checked as the core checks it (``INVALID_TIERS``)."""
    rows = document.get("tiers") if isinstance(document, dict) else document
    listed = rows if isinstance(rows, list) else []  # not a list: refused like an empty table
    return check_tiers([tier_from_json(row, f"tiers[{index}]") for index, row in enumerate(listed)])


def tiers_answer(tiers: tuple[Tier, ...]) -> web.Response:
    """``{"tiers": [...]}``."""
    return web.json_response({"tiers": [tier_json(tier) for tier in tiers]})


async def get_tiers(request: web.Request) -> web.Response:
    """``GET /api/trust-tiers``."""
    return tiers_answer(await core_of(request).tiers.all())


async def put_tiers(request: web.Request) -> web.Response:
    """``PUT /api/trust-tiers {tiers: [...]}``: validated as a whole, effective at once."""
    return tiers_answer(await core_of(request).replace_tiers(tiers_from_json(await json_body(request))))


async def pin_tier(request: web.Request) -> web.Response:
    """``PUT /api/sessions/{id}/tier {tier: name | null}``: pin a session to a tier (null: by age)."""
    core, session_id = core_of(request), request.match_info["id"]
    body = await PIN.read(request)
    if "tier" not in body or not (body["tier"] is None or isinstance(body["tier"], str)):
        raise InvalidTiers('body must be {"tier": name or null}')
    await core.pin_tier(session_id, body["tier"])
    return web.json_response(await session_answer(core, await core.store.get(session_id)))


ROUTES = (
    Route(
        "GET",
        "/api/trust-tiers",
        get_tiers,
        {"summary": "The trust tier table", "responses": {"200": json_of(TIERS, "tiers"), **errors()}},
    ),
    Route(
        "PUT",
        "/api/trust-tiers",
        put_tiers,
        {
            "summary": "Replace the table (validated; live at once)",
            "requestBody": body_of(TIERS, True, {"tiers": [tier_json(tier) for tier in DEFAULT_TIERS]}),
            "responses": {"200": json_of(TIERS, "saved"), **errors(400)},
        },
    ),
    Route(
        "PUT",
        "/api/sessions/{id}/tier",
        pin_tier,
        {
            "summary": "Pin a session to a tier (null: by age)",
            "requestBody": PIN.spec(),
            "responses": {"200": json_of(ref("Session"), "session"), **errors(400, 404)},
        },
    ),
)
