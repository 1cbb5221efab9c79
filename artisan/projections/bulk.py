"""Long replays without the indexes that only readers use, built once at the end.

A projection names the indexes of its tables that its own appends never read
(``Projection.reader_indexes``: block and lookup indexes for queries, digests and reverts;
a key whose uniqueness the build at the end checks for every row at once).
Keeping them up to date row by row costs a replay of a whole event store about a third of its
time; building them once from the finished table is one sort each. So a step that starts a
projection from the first event with a long way to go drops them, in its own transaction,
recording each definition (as ``pg_get_indexdef`` gives it, or for the index of a primary key
or unique constraint, the ``ALTER TABLE ... ADD CONSTRAINT`` that makes it again) in
``projection_deferred_indexes``; the step that reaches the head builds every recorded index
again and deletes the records, in its own transaction. A crash in between leaves the records
behind, and the next step to reach the head builds them. Meanwhile queries give the same
answers, only slower, over a projection that is still replaying anyway.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from artisan.projections.abc import Projection

# An index's definition, and its table and constraint when it is a constraint's (a primary key
# or a unique constraint): that is dropped and made again as the constraint.
_DEFINITION = """
SELECT pg_get_indexdef(c.oid), t.relname, k.conname, pg_get_constraintdef(k.oid)
FROM pg_class c
JOIN pg_index i ON i.indexrelid = c.oid
JOIN pg_class t ON t.oid = i.indrelid
LEFT JOIN pg_constraint k ON k.conindid = c.oid AND k.conrelid = t.oid AND k.contype IN ('p', 'u')
WHERE c.oid = to_regclass(%s) AND c.relkind = 'i'
"""


def defer(conn: psycopg.Connection[Any], projection: Projection) -> list[str]:
    """Drop the projection's reader indexes, recording how to build them; those dropped."""
    dropped: list[str] = []
    for name in projection.reader_indexes:
        row = conn.execute(_DEFINITION, (name,)).fetchone()
        if row is None:
            continue  # already dropped (and recorded) by an earlier replay
        index_definition, table, constraint, constraint_definition = row
        if constraint is None:
            definition = index_definition
            drop = sql.SQL("DROP INDEX {}").format(sql.Identifier(name))
        else:
            definition = (
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ")
                .format(sql.Identifier(table), sql.Identifier(constraint))
                .as_string(conn)
                + constraint_definition
            )
            drop = sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.Identifier(table), sql.Identifier(constraint)
            )
        conn.execute(
            "INSERT INTO projection_deferred_indexes (index_name, projection, definition)"
            " VALUES (%s, %s, %s) ON CONFLICT (index_name) DO NOTHING",
            (name, projection.name, definition),
        )
        conn.execute(drop)
        dropped.append(name)
    return dropped


def restore(conn: psycopg.Connection[Any], projection: Projection) -> list[str]:
    """Build the projection's deferred indexes and forget them; those built."""
    rows = conn.execute(
        "DELETE FROM projection_deferred_indexes WHERE projection = %s"
        " RETURNING index_name, definition",
        (projection.name,),
    ).fetchall()
    built: list[str] = []
    for name, definition in sorted(rows):
        # Applying the schema again may have made it meanwhile (CREATE INDEX IF NOT EXISTS).
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
        if exists is not None and exists[0]:
            continue
        # The statement is the server's own rendering of an index or constraint it held (with
        # its table's and constraint's names quoted), not outside text.
        conn.execute(definition.encode())
        built.append(name)
    return built
