"""The HTTP surface: health, metrics, the admin API, pages, and the routes plugins add."""

from hashcart.web.lifecycle import build_app, serving
from hashcart.web.server import json_error

__all__ = ["build_app", "json_error", "serving"]
