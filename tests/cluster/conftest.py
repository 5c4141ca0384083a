from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hashcart.testing.pytest_plugin import _truncate


@pytest.fixture
async def shared_postgres(postgres_database: str) -> AsyncIterator[str]:
    """The session's PostgreSQL database, emptied: every node of a cluster test shares it."""
    await _truncate(postgres_database)
    yield postgres_database
