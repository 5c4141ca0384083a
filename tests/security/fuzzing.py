"""Shared pieces of the attack suite: a strong admin token and bounded Hypothesis settings."""

from __future__ import annotations

import secrets

from hypothesis import HealthCheck, settings

#: A fresh admin token per test session: long enough for the start-up check, guessed by nobody.
ADMIN_TOKEN = "security-suite-" + secrets.token_urlsafe(24)

#: Each fuzzing test is one server and many examples; the server is a function-scoped fixture
#: on purpose (examples share it, as requests from strangers share a production server).
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
