"""The HTTP surface: health, metrics, the admin API, pages, and the routes plugins add."""

from hashcart.web.lifecycle import serving

__all__ = ["serving"]
