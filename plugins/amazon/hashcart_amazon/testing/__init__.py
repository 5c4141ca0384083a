"""A local Amazon Creators API for tests and plugin authors: `CreatorsStandin`."""

from __future__ import annotations

from hashcart_amazon.testing.creators import CreatorsStandin as CreatorsStandin
