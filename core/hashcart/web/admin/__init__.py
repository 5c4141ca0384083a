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

    def json_of(model: type[BaseModel]) -> dict[str, Any]:
        """A JSON body of `model`, whose schema goes into the document's components."""
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}

    def answer(model: type[BaseModel] | None) -> dict[str, Any]:
        if model is None:
            return {"description": "no content"}
        return {"description": model.__name__, "content": json_of(model)}

    string = {"type": "string"}
    paths: dict[str, Any] = {}
    for route in ROUTES:
        responses = {str(status): answer(model) for status, model in route.responses.items()}
        operation: dict[str, Any] = {
            "summary": route.summary,
            "operationId": route.handler.__name__,
            "security": [{"bearer": []}],
            "responses": responses,
        }
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": string}
            for name in re.findall(r"{(\w+)}", route.path)
        ] + [
            {"name": name, "in": "query", "required": False, "description": text, "schema": string}
            for name, text in route.query
        ]
        if parameters:
            operation["parameters"] = parameters
        if route.body is not None:
            operation["requestBody"] = {"required": True, "content": json_of(route.body)}
        # Every route can refuse the caller; a route with a body also refuses one that is not
        # JSON (400) or not sent as JSON (415), before its own validation (422).
        refusals = ["401"] + (["400", "415"] if route.body is not None else [])
        responses.update({status: answer(Error) for status in refusals})
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
