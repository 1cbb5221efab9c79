"""The API cannot write (docs/SECURITY.md): its schema has no mutations, and every connection
its pool hands a request is read-only, so a write that reached the database would be refused."""

from __future__ import annotations

import asyncio

import httpx
import psycopg
import pytest

from artisan.graphql.app import _configure
from artisan.storage.database import Database

from .support import History, data


def test_the_schema_has_no_mutations(client: httpx.Client) -> None:
    assert data(client, "{ __schema { mutationType { name } } }") == {
        "__schema": {"mutationType": None}
    }


def test_a_pooled_connection_refuses_writes(seeded: tuple[Database, History]) -> None:
    """A connection configured as the API's pool configures each one refuses an UPDATE."""
    db, _ = seeded

    async def write() -> None:
        async with await psycopg.AsyncConnection.connect(db.url) as conn:
            await _configure(conn)
            async with conn.transaction():
                await conn.execute("UPDATE proj_executions SET cost = cost + 1")

    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        asyncio.run(write())
