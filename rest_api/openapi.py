"""The OpenAPI 3.1 document, generated from the routes, their parameters and their bodies.

Every route's endpoint carries an ``Operation`` (set by the ``operation`` decorator); the
document is built by walking the routes, so a route cannot exist without being described.
Parameters describe themselves from the limits they check (``params.py``), response bodies are
TypedDicts (``bodies.py``) and errors carry their own descriptions (``errors.py``): nothing is
written twice, so nothing can drift.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema
from starlette.routing import BaseRoute, Route

from rest_api import __version__, ratelimit
from rest_api.bodies import Error, OpenApiDocument
from rest_api.errors import ERRORS, ApiError, BadParameter, MethodNotAllowed, RateLimited
from rest_api.params import Param

F = TypeVar("F", bound=Callable[..., Any])
JSON = "application/json"
_COMPONENTS = "#/components/schemas/"


@dataclass(frozen=True)
class Operation:
    """What one GET endpoint takes and answers, for the document."""

    summary: str
    tag: str
    response: Any  # the body's type: a TypedDict of ``bodies``, or ``str`` for text
    media_type: str = JSON
    params: tuple[Param[Any], ...] = ()
    # Beyond those every operation may answer: 405 and 500, 400 when it takes parameters,
    # 429 where the rate limit applies.
    errors: tuple[type[ApiError], ...] = ()
    cached: bool = False  # ETag / If-None-Match / 304
    description: str = ""


def operation(op: Operation) -> Callable[[F], F]:
    """Attach ``op`` to an endpoint function."""

    def attach(endpoint: F) -> F:
        endpoint.operation = op  # type: ignore[attr-defined]
        return endpoint

    return attach


def operation_of(route: BaseRoute) -> Operation | None:
    """The ``Operation`` a route's endpoint declares, if any."""
    return getattr(getattr(route, "endpoint", None), "operation", None)


class _Schemas(GenerateJsonSchema):
    # A title per property only repeats its name.
    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _body_schemas(bodies: Iterable[Any]) -> tuple[dict[Any, Any], dict[str, Any]]:
    """(the schema of each body type, every named schema they use) for components."""
    adapters = [(body, "serialization", TypeAdapter(body)) for body in dict.fromkeys(bodies)]
    by_key, definitions = TypeAdapter.json_schemas(
        adapters,  # type: ignore[arg-type]
        ref_template=_COMPONENTS + "{model}",
        schema_generator=_Schemas,
    )
    schemas = definitions.get("$defs", {})
    # The codes are the error classes' own, not a second list.
    schemas["ErrorDetail"]["properties"]["code"]["enum"] = sorted({e.code for e in ERRORS})
    return {key[0]: schema for key, schema in by_key.items()}, schemas


def _errors(op: Operation, path: str) -> list[type[ApiError]]:
    implied = [MethodNotAllowed, ApiError]
    if op.params:
        implied.append(BadParameter)
    if ratelimit.applies_to(path):
        implied.append(RateLimited)
    return sorted({*op.errors, *implied}, key=lambda e: e.status)


def _operation_doc(op: Operation, op_id: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "OK", "content": {op.media_type: {"schema": body}}}
    responses: dict[str, Any] = {"200": ok}
    if op.cached:
        ok["headers"] = {
            "ETag": {"description": "Weak hash of the body.", "schema": {"type": "string"}},
            "Cache-Control": {"schema": {"type": "string"}},
        }
        responses["304"] = {"description": "Not modified: If-None-Match named the current ETag."}
    for error in _errors(op, path):
        response: dict[str, Any] = {
            "description": error.description,
            "content": {JSON: {"schema": {"$ref": _COMPONENTS + "Error"}}},
        }
        if error.header_docs:
            response["headers"] = {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in error.header_docs.items()
            }
        responses[str(error.status)] = response
    params = [p.openapi() for p in op.params]
    if op.cached:
        params.append(
            {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "description": "An ETag from an earlier response: 304 when unchanged.",
                "schema": {"type": "string"},
            }
        )
    doc: dict[str, Any] = {
        "operationId": op_id,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": params,
        "responses": responses,
    }
    if op.description:
        doc["description"] = op.description
    return doc


def build(routes: Iterable[BaseRoute]) -> OpenApiDocument:
    """The OpenAPI 3.1 document of every route that declares an ``Operation``."""
    described = [
        (route, op)
        for route in routes
        if isinstance(route, Route) and (op := operation_of(route)) is not None
    ]
    bodies, schemas = _body_schemas([Error, *(op.response for _, op in described)])
    paths: dict[str, Any] = {}
    for route, op in described:
        item = paths.setdefault(route.path, {})
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            item[method.lower()] = _operation_doc(op, route.name, route.path, bodies[op.response])
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "inplay REST API",
            "version": __version__,
            "description": "Games, price candles, bet volume, exposure and search over the "
            "inplay TimescaleDB aggregates. Errors are "
            '`{"error": {"code", "message"}}` with a stable code.',
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": schemas},
    }
