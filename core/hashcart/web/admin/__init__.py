"""The admin JSON API (`/api/v1`): validated input, one error shape, an OpenAPI document."""

from __future__ import annotations

from aiohttp import web

from hashcart.web.admin.handlers import ROUTES
from hashcart.web.admin.models import PRODUCT_ID, ProductIn
from hashcart.web.admin.openapi import openapi, openapi_document
from hashcart.web.admin.requests import guarded


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/openapi.json", openapi)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, guarded(route.handler))


__all__ = ["PRODUCT_ID", "ProductIn", "add_routes", "openapi_document"]
