"""The admin JSON API (`/api/v1`): validated input, one error shape, and an OpenAPI document
built from the route table, so it cannot describe a route the server does not have."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from hashcart.version import __version__
from hashcart.web.admin.handlers import ROUTES, guarded
from hashcart.web.admin.models import PRODUCT_ID, Error, ProductIn


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/openapi.json", openapi)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, guarded(route.handler))


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def openapi_document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            schemas[name] = definition
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    paths: dict[str, Any] = {}
    for route in ROUTES:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "operationId": route.handler.__name__,
            "security": [{"bearer": []}],
            "responses": {
                str(status): (
                    {"description": "no content"}
                    if model is None
                    else {
                        "description": model.__name__,
                        "content": {"application/json": {"schema": ref(model)}},
                    }
                )
                for status, model in route.responses.items()
            },
        }
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", route.path)
        ] + [
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": text,
                "schema": {"type": "string"},
            }
            for name, text in route.query
        ]
        if parameters:
            operation["parameters"] = parameters
        if route.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(route.body)}},
            }
        # Every route can refuse the caller; a route with a body also refuses one that is not
        # JSON (400) or not sent as JSON (415), before its own validation (422).
        refusals = ["401"] + (["400", "415"] if route.body is not None else [])
        for status in refusals:
            operation["responses"][status] = {
                "description": "Error",
                "content": {"application/json": {"schema": ref(Error)}},
            }
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "hashcart admin API", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


__all__ = ["PRODUCT_ID", "ProductIn", "add_routes", "openapi_document"]
