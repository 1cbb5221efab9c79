"""Planner statistics refreshed where bulk work changes them, never left to autovacuum.

A store backfilled in minutes holds millions of rows the planner has never seen: with no
statistics it takes ``events`` for a small table and picks plans that read it whole for every
batch (a first catch-up of 200,088 events ran for more than 10 minutes without finishing; after
``ANALYZE events``, 0.6 s, it took 3-5 s). Autovacuum would analyse it in time on a default
server, but its thresholds lag a backfill, and it may be off. So the writers that change a
table in bulk analyse it themselves, when the rows changed since its last analysis pass a
threshold: the indexer after a backfill, the projection runner before and after a catch-up.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql

MIN_CHANGED = 10_000  # rows changed since the last analysis before a table is analysed again
CHANGED_FRACTION = 0.1  # ... and at least this part of its rows

_STALE = """
SELECT s.relname, s.n_mod_since_analyze, greatest(c.reltuples, 0)::bigint
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE s.schemaname = current_schema() AND s.relname = ANY(%s)
"""


def flush(conn: psycopg.Connection[Any]) -> None:
    """Publish this connection's pending row counts now (Postgres 15 and later batch them for
    up to a second, or ten when idle), so that a check made right after sees its writes."""
    if conn.info.server_version >= 150000:
        conn.execute("SELECT pg_stat_force_next_flush()")


def stale(conn: psycopg.Connection[Any], tables: Iterable[str]) -> list[str]:
    """The ``tables`` whose rows changed since their last analysis past the thresholds."""
    conn.execute("SELECT pg_stat_clear_snapshot()")  # not the view as this transaction saw it
    rows = conn.execute(_STALE, (list(tables),)).fetchall()
    return sorted(
        name for name, changed, known in rows
        if changed >= MIN_CHANGED and changed >= CHANGED_FRACTION * known
    )  # fmt: skip


def refresh(conn: psycopg.Connection[Any], tables: Iterable[str]) -> list[str]:
    """ANALYZE each stale table of ``tables`` (outside a transaction block, or inside one:
    ANALYZE runs in either); the tables analysed."""
    done = stale(conn, tables)
    for name in done:
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(name)))
    return done
