"""The HTTP surface: health, metrics, the admin API, pages, and the routes plugins add."""

from hashcart.web.server import build_web_app, json_error

__all__ = ["build_web_app", "json_error"]
