"""Fixtures of the indexer tests: a private anvil with the real ArtToken deployed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from artisan.config import Settings

from .indexer_anvil import TokenChain, token_chain


@pytest.fixture
def token_anvil(settings: Settings) -> Iterator[TokenChain]:
    """An anvil of this test's own (it may be reorganized) with ArtToken deployed."""
    yield from token_chain(settings)
