"""schemathesis against the admin API's own OpenAPI document, over real HTTP.

Every operation is fuzzed with documented (positive) and off-document (negative) input, once with
the admin token and once without: no answer may be a 5xx, and every answer must match what the
document says the operation answers (status, content type, body schema).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import schemathesis
from hypothesis import given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from hashcart.testing import running_hashcart
from tests.security.fuzzing import ADMIN_TOKEN

#: No 5xx, every answer as documented, and no operation answering without the token. (Whether
#: the document describes every *input* rule - `?name=` or `?platform=&user_id=` - is not asked.)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    ignored_auth,
    unsupported_method,
]

#: Examples per operation and generation mode; 13 operations keep each test well under a minute.
EXAMPLES = 25


def fuzz_every_operation(base_url: str, headers: dict[str, str]) -> list[str]:
    """Run schemathesis (blocking; called in a thread) and return one line per failed operation."""
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, "the document lost its operations"
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True)
            def check(case: Any) -> None:
                case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)

            try:
                check()
            except (AssertionError, BaseExceptionGroup) as exc:  # schemathesis's FailureGroup
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    return failures


@pytest.mark.parametrize("with_token", [True, False], ids=["token", "no-token"])
async def test_admin_api_conforms_to_its_openapi_document_under_fuzzing(
    database_url: str, with_token: bool
) -> None:
    env = {"HASHCART_ADMIN_TOKEN": ADMIN_TOKEN}
    async with running_hashcart(database_url=database_url, env=env, with_amazon=False) as hc:
        await hc.add_product("shop:SKU1", "Blue mug", 1250)
        token = hc.hashcart.settings.admin_token
        assert token
        headers = {"Authorization": f"Bearer {token}"} if with_token else {}
        failures = await asyncio.to_thread(fuzz_every_operation, hc.url, headers)
    assert not failures, "\n\n".join(failures)
