"""The HTTP surface: health, metrics, the admin API, pages, and the routes plugins add."""

from hashcart.web.server import serving

__all__ = ["serving"]
