"""The OpenAPI 3.1 document of the API, built from the Chalice app's own route table.

Paths and methods come from `app.routes` (path -> method -> RouteEntry), so the document cannot
list a route the app lacks or miss one it has; the text (summary, responses) comes from the
`openapi=` keyword each route declares through `platform.http.route`, the request body from its
`body=` contract (the very schema that checks requests), and security from its `auth` flag. No
chalice import: the builder only reads the route table.
"""
from __future__ import annotations

import re
from typing import Callable, Mapping, Protocol

_PATH_PARAM = re.compile(r"\{([^}]+)\}")

ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "object"}}}}}


def _error(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


class RouteEntry(Protocol):
    """What the builder reads of an entry of Chalice's route table (`app.routes[path][method]`)."""

    view_function: Callable[..., object]
    view_name: str


def build_openapi(routes: Mapping[str, Mapping[str, RouteEntry]], *, title: str, version: str) -> dict:
    paths: dict = {}
    for path in sorted(routes):
        item: dict = {}
        for method in sorted(routes[path]):
            entry = routes[path][method]
            doc = getattr(entry.view_function, "route_doc", None)
            if doc is None:
                raise ValueError(f"{method} {path} was not registered through platform.http.route")
            item[method.lower()] = _operation(path, entry.view_name, doc)
        paths[path] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {"Error": ERROR_SCHEMA},
        },
    }


def _operation(path: str, view_name: str, doc) -> dict:
    meta = dict(doc.openapi)
    op: dict = {"operationId": view_name, "summary": meta.pop("summary", view_name.replace("_", " "))}
    declared = list(meta.pop("parameters", []))
    declared_names = {(p["name"], p["in"]) for p in declared}
    op["parameters"] = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                        for n in _PATH_PARAM.findall(path) if (n, "path") not in declared_names] + declared
    if not op["parameters"]:
        del op["parameters"]
    responses = dict(meta.pop("responses", {}))
    if not any(code.startswith("2") for code in responses):
        responses = {"200": {"description": "OK"}, **responses}
    responses.setdefault("400", _error("invalid request"))
    if doc.contract is not None:
        op["requestBody"] = {"required": doc.contract.required,
                             "content": {"application/json": {"schema": doc.contract.schema}}}
        responses.setdefault("413", _error(f"the body is over {doc.contract.max_bytes} bytes"))
    if doc.auth:
        op["security"] = [{"bearerAuth": []}]
        responses.setdefault("401", _error("missing or invalid bearer token"))
        responses.setdefault("403", _error("the token's role or scope does not allow this"))
    else:
        op["security"] = []
    if _PATH_PARAM.search(path):
        responses.setdefault("404", _error("not found"))
    op["responses"] = responses
    op.update(meta)
    return op
