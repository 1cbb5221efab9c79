"""Fixtures of the projection tests: a database of their own, reset between examples, and the
chain fixtures (re-exported from tests/chain) for the full cycle on anvil."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from artisan.storage.database import Database
from tests.chain.helpers import chain_snapshot, deployer, operator, protocol, w3

from .support import fresh_store, reset_store

__all__ = ["chain_snapshot", "deployer", "operator", "protocol", "store", "w3"]


@pytest.fixture(scope="module")
def module_store(pg_server: Database) -> Iterator[Database]:
    """One database per test module; hypothesis examples reset it instead of making more."""
    yield from fresh_store(pg_server)


@pytest.fixture
def store(module_store: Database) -> Database:
    """The module's database, emptied (event store and projections) for this test."""
    reset_store(module_store)
    return module_store
