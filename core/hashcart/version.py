"""The version of the core, one place for the package and the modules under it."""

__version__ = "0.1.0"
