"""What a request brings, read once and described from the same definition: its JSON body (hostile
documents refused before anything reads them), the fields it may have, its query parameters."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from waorch.api.spec import body_of
from waorch.errors import BadRequest, WaorchError

MAX_DEPTH = 32  # our deepest document is 3 levels; deeper nesting is refused before anything reads it
MAX_INTEGER = 2**53  # beyond this a JSON number is not exact in most clients


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadRequest(f"number {text[:20]} is out of range (numbers must be finite)")
    return value


def _bounded(text: str) -> int:
    if len(text.lstrip("-")) > len(str(MAX_INTEGER)) or abs(value := int(text)) > MAX_INTEGER:
        raise BadRequest(f"number {text[:20]} is out of range (whole numbers must be within ±2**53)")
    return value


def _no_constant(name: str) -> None:
    raise BadRequest(f"{name} is not a number JSON allows")


_DECODER = json.JSONDecoder(parse_float=_finite, parse_int=_bounded, parse_constant=_no_constant)


def _check_tree(document: Any) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` and strings that are not Unicode text (a lone surrogate escape)."""
    pending = [(document, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, str):
            if not node.isascii() and not _encodable(node):
                raise BadRequest(
                    "body holds text that is not valid Unicode (a lone surrogate escape)", code="INVALID_TEXT"
                )
        elif isinstance(node, (dict, list)):
            if depth > MAX_DEPTH:
                raise BadRequest(f"body is nested deeper than {MAX_DEPTH} levels")
            children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
            pending.extend((child, depth + 1) for child in children)


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def read_json(raw: bytes) -> Any:
    """A JSON document from a request body (``BAD_REQUEST``: not UTF-8 JSON, NaN / Infinity / a number out of
    range, nested deeper than ``MAX_DEPTH``; ``INVALID_TEXT``: a string that is not Unicode)."""
    try:
        document = _DECODER.decode(raw.decode())
    except RecursionError:
        raise BadRequest(f"body is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:  # UnicodeDecodeError included
        raise BadRequest("body is not valid JSON (UTF-8)") from None
    _check_tree(document)
    return document


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object (``BAD_REQUEST`` if it is not one; empty body → ``{}``)."""
    raw = await request.read()
    if not raw.strip():
        return {}
    body = read_json(raw)
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


@dataclass(frozen=True)
class JsonObject:
    """A request body that is a JSON object with these properties and no others (``code``: the refusal's).
    Presence and values are for the parsers of the fields to judge, which name what is wrong."""

    properties: dict[str, dict[str, Any]]
    required: tuple[str, ...] = ()
    example: dict[str, Any] | None = None
    code: str = "BAD_REQUEST"

    async def read(self, request: web.Request) -> dict[str, Any]:
        """The body (``BAD_REQUEST`` if it is no JSON object, ``code`` naming the fields it may not have)."""
        body = await json_body(request)
        if unknown := body.keys() - self.properties:
            raise BadRequest(f"unknown field(s): {', '.join(sorted(unknown))}", code=self.code)
        return body

    def spec(self) -> dict[str, Any]:
        """The OpenAPI request body."""
        schema = {
            "type": "object",
            "properties": self.properties,
            "additionalProperties": False,
            "required": list(self.required),
        }
        return body_of(schema, bool(self.required), self.example)


def optional_string(body: dict[str, Any], name: str, refusal: type[WaorchError]) -> str | None:
    """Field ``name``: a string, or ``None`` when absent or null (``refusal`` if it is anything else)."""
    value = body.get(name)
    if value is None or isinstance(value, str):
        return value
    raise refusal(f"{name} must be a string")


@dataclass(frozen=True)
class WholeQuery:
    """An optional query parameter that is one whole number in ``[low, high]``."""

    name: str
    low: int
    high: int
    description: str

    def read(self, request: web.Request) -> int | None:
        """Its value, or ``None`` if absent (``INVALID_QUERY`` if given twice or not such a number)."""
        values = request.query.getall(self.name, [])
        if not values:
            return None
        value = values[0]
        readable = (
            value.isascii() and value.isdigit() and len(value) <= len(str(self.high))
        )  # int() of 5000 digits raises
        if len(values) > 1 or not readable or not self.low <= int(value) <= self.high:
            raise BadRequest(
                f"{self.name} must be one whole number from {self.low} to {self.high}", code="INVALID_QUERY"
            )
        return int(value)

    def spec(self) -> dict[str, Any]:
        """The OpenAPI parameter."""
        schema = {"type": "integer", "minimum": self.low, "maximum": self.high}
        return {"name": self.name, "in": "query", "required": False, "description": self.description, "schema": schema}


def only_queries(request: web.Request, *allowed: WholeQuery) -> None:
    """``INVALID_QUERY`` if the request has a query parameter other than ``allowed``."""
    if unknown := set(request.query) - {query.name for query in allowed}:
        raise BadRequest(f"unknown query parameter(s): {', '.join(sorted(unknown))}", code="INVALID_QUERY")
