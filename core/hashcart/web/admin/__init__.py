"""The admin JSON API (`/api/v1`): validated input, one error shape, an OpenAPI document.

Each route is declared once in `routes.ROUTES` with its models; the OpenAPI document is built
from the same table, so it cannot describe a route the server does not have.
"""

from __future__ import annotations

from aiohttp import web

from hashcart.web.admin.models import PRODUCT_ID, ProductIn
from hashcart.web.admin.openapi import openapi, openapi_document
from hashcart.web.admin.requests import guarded
from hashcart.web.admin.routes import ROUTES


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/openapi.json", openapi)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, guarded(route.handler))


__all__ = ["PRODUCT_ID", "ProductIn", "add_routes", "openapi_document"]
