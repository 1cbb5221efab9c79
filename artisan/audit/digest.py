"""A proof of indexing: a deterministic digest of a projection's content up to a block.

For each of the projection's tables, in declaration order: the table's name, then each row of
its content as of the block (``tables.as_of``: canonical values, canonical order) as one JSON
array with integers as decimal strings. The digest is SHA-256 over all of it. The same events
give the same digest whether the rows come from Postgres or from the in-memory twin, whatever
batches, crashes or reorgs happened on the way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import orjson
import psycopg
from psycopg import sql

from artisan.projections.abc import MemoryProjection, ReadModel
from artisan.projections.tables import Row, TableSpec, as_of, encode


def table_rows(conn: psycopg.Connection[Any], spec: TableSpec, block: int) -> list[Row]:
    """The table's content as of ``block``, read from Postgres."""
    columns = sql.SQL(", ").join(map(sql.Identifier, spec.columns))
    table = sql.Identifier(spec.name)
    if spec.versioned:
        query = sql.SQL(
            "SELECT {}, lower(block_range), upper(block_range) FROM {}"
            " WHERE lower(block_range) <= %s"
        ).format(columns, table)
    else:
        query = sql.SQL("SELECT {} FROM {} WHERE {} <= %s").format(
            columns, table, sql.Identifier(spec.block_column)
        )
    return as_of(spec, conn.execute(query, (block,)).fetchall(), block)


def table_digest(name: str, rows: Iterable[Row]) -> bytes:
    h = hashlib.sha256()
    h.update(name.encode() + b"\n")
    for row in rows:
        h.update(orjson.dumps(list(encode(row))) + b"\n")
    return h.digest()


def combine(parts: Iterable[bytes]) -> str:
    return hashlib.sha256(b"".join(parts)).hexdigest()


def db_table_digests(
    conn: psycopg.Connection[Any], projection: ReadModel, block: int
) -> dict[str, bytes]:
    return {t.name: table_digest(t.name, table_rows(conn, t, block)) for t in projection.tables}


def memory_table_digests(
    projection: ReadModel, memory: MemoryProjection, block: int
) -> dict[str, bytes]:
    return {
        t.name: table_digest(t.name, as_of(t, memory.rows(t.name), block))
        for t in projection.tables
    }


def db_digest(conn: psycopg.Connection[Any], projection: ReadModel, block: int) -> str:
    """The projection's digest up to ``block``, from its tables in Postgres."""
    return combine(db_table_digests(conn, projection, block).values())


def memory_digest(projection: ReadModel, memory: MemoryProjection, block: int) -> str:
    """The projection's digest up to ``block``, from its in-memory twin."""
    return combine(memory_table_digests(projection, memory, block).values())
